#!/usr/bin/env bash
# Every long option a tool's --help lists is documented in its man page, and every long option the man page
# documents is one the tool lists (spellings with '_' and '-' are the same option). Also: each tool's page has the
# sections a user relies on.
. "$(dirname "$0")/lib.sh"
norm() { tr '_' '-' | sort -u; }
for bin in "$AVSL_BIN"/avsl-*; do
	tool=$(basename "$bin")
	page=$AVSL_ROOT/man/$tool.1
	if [ ! -f "$page" ]; then
		echo "FAIL manpage_exists_$tool: no man/$tool.1"
		continue
	fi
	echo "PASS manpage_exists_$tool"
	# Options are the help lines that start with a dash; "--pa_*" in a help text stands for a family documented one by one: drop names ending in '-' or '_'.
	"$bin" --help 2>/dev/null | grep -E '^ +-' | grep -o -- '--[a-z][a-z0-9_-]*' | sed 's/^--//' | grep -v '[-_]$' | norm >"$T/help"
	# mdoc lists an option on an .It line as "Fl -name", "Fl \-name" or "Fl m , -name" (several per line too).
	sed -n '/^\.Sh OPTIONS/,/^\.Sh /p' "$page" | grep '^\.It' | grep -o '\(Fl\|,\) \\\?-[a-z][a-z0-9_-]*' |
		sed 's/^\(Fl\|,\) \\\?-//' | norm >"$T/man"
	missing=$(comm -23 "$T/help" "$T/man" | tr '\n' ' ')
	extra=$(comm -13 "$T/help" "$T/man" | tr '\n' ' ')
	if [ -z "$missing" ]; then echo "PASS manpage_documents_help_$tool"; else
		echo "FAIL manpage_documents_help_$tool: in --help but not in man/$tool.1 OPTIONS: $missing"; fi
	if [ -z "$extra" ]; then echo "PASS manpage_options_exist_$tool"; else
		echo "FAIL manpage_options_exist_$tool: in man/$tool.1 OPTIONS but not in --help: $extra"; fi
	for sec in SYNOPSIS DESCRIPTION OPTIONS 'EXIT STATUS' EXAMPLES 'SEE ALSO'; do
		grep -q "^\.Sh $sec" "$page" || { echo "FAIL manpage_sections_$tool: no $sec section"; continue 2; }
	done
	echo "PASS manpage_sections_$tool"
done
