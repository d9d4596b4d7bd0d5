# pgtide.ini(5) from etc/pgtide.ini, the sample that documents every
# setting with its default (tests/unit/check_config.c keeps it complete):
#   awk -v version=X -f doc/ini2man.awk etc/pgtide.ini > pgtide.ini.5
# ";; text" is prose; ";name = default" (or an active "name = value") is a
# setting, described by the prose just above it; ";;; Title ---" and
# "[section]" are headings.
function esc(s) {
	gsub(/\\/, "\\e", s)
	sub(/^[.']/, "\\\\\\&&", s)
	return s
}
# a block with indented lines (tables, examples) keeps its lines as they are
function body(    i, pre) {
	pre = 0
	for (i = 1; i <= n; i++) if (buf[i] ~ /^ /) pre = 1
	if (pre) print ".nf"
	for (i = 1; i <= n; i++) print esc(buf[i])
	if (pre) print ".fi"
}
function flush_prose() {
	if (n) {
		print ".PP"
		body()
	}
	n = 0
}
BEGIN {
	print ".TH PGTIDE.INI 5 \"\" \"pgtide " version "\" \"pgtide manual\""
	print ".SH NAME"
	print "pgtide.ini \\- configuration of pgtide, the PostgreSQL connection pooler"
	print ".SH DESCRIPTION"
	print "pgtide reads PgBouncer's ini format. This page is made from the sample"
	print "configuration installed with pgtide, which shows every setting with its"
	print "default. Settings marked reloadable change with SIGHUP or the console's RELOAD;"
	print "see pgtide(1)."
	n = 0
}
/^;;;;+$/ { flush_prose(); next }
/^;;; / {
	flush_prose()
	t = $0
	sub(/^;;; */, "", t)
	sub(/ *-+$/, "", t)
	print ".SS " esc(t)
	next
}
/^\[[a-z]+\]$/ { flush_prose(); print ".SH SECTION " toupper($0); next }
/^;;/ {
	t = $0
	sub(/^;; ?/, "", t)
	if (t == "") { flush_prose(); next }
	buf[++n] = t
	next
}
/^;?[a-z_*][a-z_0-9]* *=/ {
	t = $0
	sub(/^;/, "", t)
	print ".TP"
	print ".B " esc(t)
	body()
	n = 0
	next
}
/^$/ { flush_prose(); next }
END {
	flush_prose()
	print ".SH SEE ALSO"
	print "pgtide(1), pgbouncer(5)"
}
