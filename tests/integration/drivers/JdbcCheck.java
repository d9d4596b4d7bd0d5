// pgjdbc through pgtide with its defaults: server-side prepared statements
// after prepareThreshold (5) executions, batches, transactions, errors.
import java.sql.*;

public class JdbcCheck {
    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/app?options=-c%20app.current_tenant_id=acme";
        try (Connection c = DriverManager.getConnection(url, "postgres", "")) {
            try (Statement s = c.createStatement()) {
                s.execute("drop table if exists drv_jdbc");
                s.execute("create table drv_jdbc (id int, v text)");
            }
            try (PreparedStatement ps = c.prepareStatement("select ?::int * 2, current_setting('app.current_tenant_id')")) {
                for (int i = 0; i < 30; i++) {
                    ps.setInt(1, i);
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        if (rs.getInt(1) != i * 2 || !"acme".equals(rs.getString(2)))
                            throw new RuntimeException("wrong answer at " + i);
                    }
                }
            }
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement("insert into drv_jdbc values (?, ?)")) {
                for (int i = 0; i < 300; i++) {
                    ps.setInt(1, i);
                    ps.setString(2, "v" + i);
                    ps.addBatch();
                }
                ps.executeBatch();
            }
            c.commit();
            try (Statement s = c.createStatement()) {
                s.execute("insert into drv_jdbc values (-1, 'x')");
            }
            c.rollback();
            c.setAutoCommit(true);
            try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("select count(*) from drv_jdbc")) {
                rs.next();
                if (rs.getInt(1) != 300) throw new RuntimeException("count " + rs.getInt(1));
            }
            try (Statement s = c.createStatement()) {
                s.executeQuery("select 1/0");
                throw new RuntimeException("no error");
            } catch (SQLException e) {
                if (!"22012".equals(e.getSQLState())) throw e;
            }
            try (Statement s = c.createStatement()) {
                s.execute("drop table drv_jdbc");
            }
        }
        System.out.println("pgjdbc ok");
    }
}
