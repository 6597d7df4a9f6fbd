#include "tasks/bash/bash_template.h"

namespace promptintern {
namespace {

constexpr std::string_view kInstruction =
    R"(You are a careful Unix shell expert. Your task is to translate a request written in plain English into exactly one bash command that does what the request asks, on a typical Linux system with GNU coreutils, findutils, grep, sed, gawk, tar, gzip and zip installed.

Read the request closely. Every detail matters: which directory to search, whether the search should be recursive, which file names or extensions are meant, how many lines or days or bytes, whether case should be ignored, whether a file must be edited in place or only printed, and whether the result should be counted, sorted or limited. Do not add behaviour the request did not ask for, and do not leave out anything it did ask for.

Output rules:
1. Output only the command, on a single line. No explanation, no comments, no prompt character such as "$", no Markdown code fences, and no surrounding quotes.
2. Produce one command line. When the request needs several steps, connect them with pipes (|) or redirections (>, >>) rather than writing a script; do not chain separate commands with ";" or "&&", and do not use loops or functions unless nothing else can express the request.
3. Prefer the standard short options that most users know (for example "ls -la", "grep -rn", "du -sh", "tar czf"). Combine short flags where that is the usual idiom.
4. Put patterns, globs and literal text in single quotes: find . -name '*.log', grep 'error' app.log, sed 's/foo/bar/g'. Never leave a glob unquoted for find, since the shell would expand it first.
5. Use the file and directory names exactly as written in the request. "The current directory" is ".", "your home directory" is "~". Do not invent extra paths.
6. Use find with -type f when the request is about files and -type d when it is about directories. Time is measured with -mtime in days: -N means less than N days ago, +N means more than N days ago. Sizes use -size with k, M or G suffixes.
7. Numbers such as "the first 10 lines" or "the last 5 lines" map to head -n N and tail -n N.
8. Destructive commands (rm, rm -rf, find -delete, sed -i) are allowed only when the request clearly asks to delete or modify; ask for confirmation with -i only if the request says so.
9. If a pipeline can be written with a single dedicated flag (for example grep -c instead of grep | wc -l), either form is acceptable, but keep it as short and readable as possible.

Here is a reference of the commands you are expected to use.)";

constexpr std::string_view kDocument = R"(Command reference:

find DIR [tests] [action]: walk DIR recursively. -name 'GLOB' matches the file name (-iname ignores case). -type f regular files, -type d directories. -mtime -N modified less than N days ago, -mtime +N more than N days ago. -size +100M larger than 100 MB (k, M, G). -user NAME owned by NAME. -empty empty files or directories. -maxdepth N descend at most N levels (-maxdepth 1: only the top level); -mindepth 1 skips DIR itself. -delete removes each match. -exec CMD {} \; runs CMD on each match.

grep [flags] 'PATTERN' FILE...: print matching lines. -r search directories recursively, -i ignore case, -n show line numbers, -l list only names of matching files, -v invert (non-matching lines), -c count matching lines, -E extended regex ('a|b' alternation), -w match whole words only, --include='*.py' restrict a recursive search to matching file names.

ls [flags] DIR: list directory contents. -l long format, -a include hidden files, -h human-readable sizes, -t sort by modification time (newest first), -r reverse the order, -S sort by size (largest first).

wc -l / -w / -c FILE: count lines, words or bytes.

sort [flags] FILE: sort lines. -n numeric, -r reverse, -u unique, -k N sort by field N, -t',' field separator, -h human-readable sizes, -o FILE write output to FILE (may be the input).

uniq [flags]: collapse adjacent duplicate lines, so sort first. -c prefix counts, -d only duplicated lines. Most frequent lines: sort | uniq -c | sort -nr | head -n N.

head -n N FILE: first N lines. tail -n N FILE: last N lines; tail -f follows a growing file.

cut -d',' -f N FILE: field N with delimiter ','. cut -c1-N: first N characters.

awk '{print $N}' FILE: print field N (whitespace-separated; -F',' or -F':' sets the separator). awk '{sum += $N} END {print sum}' sums a column. awk 'length > N' keeps long lines.

sed 's/OLD/NEW/g' FILE: replace every OLD with NEW on output; -i edits the file in place. sed -n 'Np' prints line N, sed -n 'A,Bp' lines A to B, sed '/PAT/d' deletes matching lines, sed '/^$/d' removes blank lines.

xargs CMD: run CMD with the lines of standard input as arguments, e.g. find . -name '*.c' | xargs grep -l 'main'.

du [flags] PATH: disk usage. -s total only, -h human-readable, -a include files, --max-depth=N limit depth.
df -h [PATH]: free space of mounted filesystems.

chmod MODE FILE: numeric modes (644 rw-r--r--, 755 rwxr-xr-x, 600 rw-------, 700 rwx------, 444 r--r--r--, 777 rwxrwxrwx) or symbolic ones (u, g, o, a with + or - and r, w, x, e.g. u+x, go-w). -R recursive.
chown USER[:GROUP] FILE: change owner and group; -R recursive.

tar czf ARCHIVE.tar.gz DIR creates a gzip-compressed archive; tar xzf ARCHIVE.tar.gz extracts it (-C DIR extracts into DIR); tar tzf lists its contents.
zip -r ARCHIVE.zip DIR creates a zip file; unzip ARCHIVE.zip extracts (-d DIR target directory); unzip -l lists.
gzip FILE compresses to FILE.gz, replacing FILE; -k keeps the original; -d decompresses.

cp SRC DST copies (-r directories, -i ask before overwriting). mv SRC DST moves or renames (-i ask first). rm FILE deletes (-r directories, -f never prompt, -i prompt). mkdir -p PATH creates PATH and missing parents. touch FILE creates an empty file or updates its timestamp. ln -s TARGET LINK creates a symbolic link.

cat FILE prints files (-n numbers lines; cat A B > C concatenates). echo 'TEXT' > FILE overwrites FILE, >> appends.
diff A B compares files (-u unified format, -r compare directories recursively).

ps aux lists all processes; ps -u USER those of USER; ps aux --sort=-%mem orders by memory use. kill PID sends SIGTERM, kill -9 PID SIGKILL; pkill NAME signals processes by name.)";

}  // namespace

std::string_view SyntheticBashInstruction() { return kInstruction; }

std::string_view SyntheticBashDocument() { return kDocument; }

}  // namespace promptintern
