#!/bin/sh
# man.sh prog version docdir < doc/prog.md > prog.1
#
# Writes the man page of one program from its doc page (see doc/building.md):
# the page's first line "# prog — what it does" becomes the title line and
# the NAME section, its "## Sections" become man sections, links to the
# other pages become "prog(1)" or the page's name, and a SEE ALSO section
# says where the installed doc directory is.
# go-md2man does the conversion; its tables are then made to fit 80
# columns (tbl text blocks, expanding columns, ragged right).
# The date is SOURCE_DATE_EPOCH's (dpkg-buildpackage sets it), else the
# date of the page's last commit, else none.
set -e
prog=$1 version=$2 docdir=$3
md2man=${MD2MAN:-go-md2man}
progs=$(cd "$(dirname "$0")/../cmd" && echo *)

if [ -n "$SOURCE_DATE_EPOCH" ]; then
	date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)
else
	date=$(git -C "$(dirname "$0")" log -1 --format=%cs -- "$prog.md" 2>/dev/null || :)
fi

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
awk -v prog="$prog" -v version="$version" -v date="$date" -v docdir="$docdir" -v progs="$progs" '
BEGIN {
	n = split(progs, p, " ")
	for (i = 1; i <= n; i++) isprog[p[i]] = 1
}
# [text](page.md#frag) -> prog(1) or text; other links stay.
function links(s,   out, i, j, k, text, target, page) {
	out = ""
	while ((i = index(s, "](")) > 0) {
		j = i
		while (j > 1 && substr(s, j, 1) != "[") j--
		k = index(substr(s, i + 2), ")")
		if (substr(s, j, 1) != "[" || k == 0) { out = out substr(s, 1, i + 1); s = substr(s, i + 2); continue }
		text = substr(s, j + 1, i - j - 1)
		target = substr(s, i + 2, k - 1)
		page = target
		sub(/#.*/, "", page)
		if (page !~ /^[a-z0-9-]+\.md$/) { out = out substr(s, 1, i + 1 + k); s = substr(s, i + 2 + k); continue }
		sub(/\.md$/, "", page)
		if (isprog[page] && (text == page || text == page ".md"))
			text = "**" page "**(1)"
		out = out substr(s, 1, j - 1) text
		s = substr(s, i + 2 + k)
	}
	return out s
}
NR == 1 {
	if ($0 !~ /^# [^ ]+ — /) { print "man.sh: " prog ".md: the first line is not \"# " prog " — what it does\"" > "/dev/stderr"; exit 1 }
	desc = $0
	sub(/^# [^ ]+ — /, "", desc)
	printf "%% %s 1 \"%s\" \"tlschain %s\" \"tlschain manual\"\n\n# NAME\n\n%s - %s\n", toupper(prog), date, version, prog, desc
	next
}
/^## / { if ($0 == "## See also") seealso = 1; print "# " toupper(substr($0, 4)); next }
/^###/ { print substr($0, 2); next }
{ print links($0) }
END {
	if (NR == 0) exit 1
	if (!seealso) printf "\n# SEE ALSO\n"
	printf "\nThe pages named *name*.md are in %s/doc, the README and the examples in %s.\n", docdir, docdir
}
' >"$tmp"
"$md2man" -in "$tmp" | awk '
# After .SH NAME: "prog - text" needs the escaped dash for whatis/apropos.
/^\.SH NAME/ { name = 1; print; next }
name && /^[^.]/ { sub(/ - /, " \\- "); name = 0 }
# Tables: every cell longer than 12 characters (without font escapes) is a
# tbl text block, the columns holding one expand (x), text is ragged right.
function flushrow(   i, c, t, out) {
	out = ""
	for (i = 1; i <= n; i++) {
		c = cell[i]
		t = c
		gsub(/\\f(\(..|\[[^]]*\]|.)/, "", t)
		if (length(t) > 12 || c ~ /\n/) {
			# a long VARIABLE_NAME may break after an underscore
			if (c !~ /^\./) gsub(/_/, "_\\:", c)
			c = "T{\n" c "\nT}"
			wide[i] = 1
		}
		out = out (i > 1 ? "\t" : "") c
	}
	rows[++nrows] = out
	if (n > ncols) ncols = n
	n = 0
}
function flushtable(   i, spec) {
	spec = ""
	for (i = 1; i <= ncols; i++) spec = spec (i > 1 ? " " : "") (wide[i] ? "lx" : "l")
	print ".ad l"
	print ".TS"
	print opts
	print spec "."
	for (i = 1; i <= nrows; i++) print rows[i]
	print ".TE"
	print ".ad b"
	nrows = 0; ncols = 0
	for (i in wide) delete wide[i]
}
/^\.TS/ { tbl = 1; fmt = 1; opts = ""; next }
tbl && fmt { if (opts == "") opts = $0; if ($0 ~ /\.$/) fmt = 0; next }
tbl && /^\.TE/ { tbl = 0; flushtable(); next }
tbl {
	line = $0
	if (inblock) {
		if (line !~ /^T}/) { cell[n] = (cell[n] == "" ? "" : cell[n] "\n") line; next }
		inblock = 0
		line = substr(line, 3)
		if (line == "") { flushrow(); next }
		line = substr(line, 2)
	}
	k = split(line, f, "\t")
	for (j = 1; j <= k; j++) {
		n++; cell[n] = ""
		if (f[j] == "T{") { inblock = 1; next }
		cell[n] = f[j]
	}
	flushrow(); next
}
{ print }
'
