-- The demo schema: a table every tenant shares, row-level security keyed on
-- the setting pgtide sets in every transaction, an application role, a
-- role bound to one tenant, and a replication role for the standby.
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD 'replicator-pw';
-- the same secrets as userlist.txt (password app-pw / acme-pw)
CREATE ROLE app LOGIN PASSWORD 'SCRAM-SHA-256$4096:fQyQgq9qkyEiS5KjnyLPPw==$7H0mjY1F+kFyvMzPJZRm6MCrLNdmTZrXJgnheGVYpK0=:OoOeajMQMYt1OFRhDU6kZq5Twzdav8HpiUPvBR4EqxM=';
CREATE ROLE acme LOGIN PASSWORD 'SCRAM-SHA-256$4096:XHXMHUVf9zIUaMQHrAU1Rw==$i1kuLTRGrGnG+mS4yBx/l7uVuN1aFfGCZ+Q5HfrtR+Q=:d0EwJ8EFQZX0PelBGBZK1oOK+Gw2X3sLRaTy4+ngv58=';
CREATE TABLE notes (id serial PRIMARY KEY, tenant_id text NOT NULL, body text);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE notes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notes
  USING (tenant_id = current_setting('app.current_tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true));
GRANT SELECT, INSERT ON notes TO app, acme;
GRANT USAGE ON SEQUENCE notes_id_seq TO app, acme;
INSERT INTO notes (tenant_id, body) VALUES ('acme', 'acme note'), ('globex', 'globex note');
