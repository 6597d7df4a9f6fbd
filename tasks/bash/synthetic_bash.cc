#include "tasks/bash/synthetic_bash.h"

#include <initializer_list>
#include <string>
#include <unordered_set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "core/util/random.h"

namespace promptintern {
namespace {

// The generator is core/util/random.h's SplitMix64, which makes the data set identical across
// compilers and standard libraries.
//
// Every shape below draws its values into named locals one statement at a time: the order in
// which function arguments are evaluated is unspecified in C++, so two draws inside one call
// could come out in a different order under another compiler.

using Vars = std::initializer_list<std::pair<absl::string_view, absl::string_view>>;

// Picks one of `count` paraphrases and fills its {placeholders}.
Example ComposeFrom(SplitMix64& rng, const absl::string_view* templates, size_t count, Vars vars,
                    std::string bash) {
  const absl::string_view chosen = templates[rng.ModuloBelow(count)];
  return Example{absl::StrReplaceAll(chosen, vars), std::move(bash)};
}

Example Compose(SplitMix64& rng, std::initializer_list<absl::string_view> templates, Vars vars,
                std::string bash) {
  return ComposeFrom(rng, templates.begin(), templates.size(), vars, std::move(bash));
}

std::string Quoted(absl::string_view text) { return absl::StrCat("\"", text, "\""); }

std::string CountOf(int n, absl::string_view singular) {
  return absl::StrCat(n, " ", singular, n == 1 ? "" : "s");
}

// ---------------------------------------------------------------------------------------------
// Value pools.

// "." is listed three times because most real requests are about the current directory.
constexpr absl::string_view kSearchDirs[] = {".",
                                             ".",
                                             ".",
                                             "~",
                                             "/tmp",
                                             "/var/log",
                                             "/etc",
                                             "/home/alice",
                                             "/opt/app",
                                             "/srv/www",
                                             "src",
                                             "docs",
                                             "build",
                                             "logs",
                                             "data",
                                             "tests",
                                             "scripts",
                                             "config",
                                             "assets",
                                             "backup",
                                             "~/projects",
                                             "~/Downloads",
                                             "~/Documents",
                                             "/usr/local/bin",
                                             "/var/www/html",
                                             "/usr/share/doc",
                                             "lib",
                                             "/home/bob"};

// Directories that are the object of an action (copy, archive, delete): never "." or "~".
constexpr absl::string_view kObjectDirs[] = {
    "src",           "docs",           "build",   "logs",      "data",    "assets",
    "config",        "backup",         "project", "photos",    "website", "scripts",
    "old_logs",      "reports",        "dist",    "tmp",       "cache",   "node_modules",
    "/var/www/html", "~/projects/app", "vendor",  "downloads", "music",   "/tmp/build",
    "release",       "notes",          "exports"};

constexpr absl::string_view kFileStems[] = {
    "notes",  "report", "data",    "access",  "error",     "config",   "main",   "app",
    "server", "users",  "output",  "results", "index",     "backup",   "todo",   "input",
    "names",  "words",  "events",  "sales",   "inventory", "settings", "readme", "changelog",
    "build",  "utils",  "records", "scores",  "hosts",     "emails",   "orders", "metrics"};

constexpr absl::string_view kTextExtensions[] = {"txt", "log",  "csv",  "md", "conf", "py",
                                                 "sh",  "json", "yaml", "c",  "js",   "html",
                                                 "xml", "ini",  "tsv",  "cfg"};

// Mostly bare names, as in real requests; sometimes a path.
constexpr absl::string_view kFileDirPrefixes[] = {
    "", "", "", "", "", "logs/", "src/", "docs/", "data/", "/tmp/", "~/", "config/", "/var/log/"};

constexpr absl::string_view kFindExtensions[] = {
    "txt",  "log",  "py",  "sh",   "c",   "cpp",   "h",   "js",   "ts",  "java", "go",  "rs",
    "json", "yaml", "xml", "html", "css", "md",    "csv", "conf", "tmp", "bak",  "jpg", "png",
    "pdf",  "mp3",  "zip", "gz",   "o",   "class", "swp", "php",  "rb",  "sql"};

constexpr absl::string_view kLogFiles[] = {"/var/log/syslog",
                                           "/var/log/auth.log",
                                           "/var/log/nginx/access.log",
                                           "/var/log/messages",
                                           "app.log",
                                           "server.log",
                                           "logs/error.log",
                                           "debug.log",
                                           "/var/log/kern.log",
                                           "logs/access.log",
                                           "/var/log/nginx/error.log",
                                           "build.log"};

constexpr absl::string_view kPatterns[] = {
    "error",     "ERROR",   "warning",   "TODO",       "FIXME",
    "failed",    "timeout", "localhost", "password",   "import",
    "main",      "debug",   "exception", "denied",     "root",
    "admin",     "http",    "null",      "deprecated", "version",
    "user",      "404",     "segfault",  "GET",        "connection refused",
    "Traceback", "WARN",    "fatal",     "success",    "login",
    "config"};

constexpr absl::string_view kWords[] = {"main",  "test", "user", "id",   "name", "log",
                                        "error", "data", "port", "host", "key",  "path"};

constexpr absl::string_view kUsers[] = {"alice",    "bob",     "carol",  "dave",
                                        "www-data", "root",    "deploy", "postgres",
                                        "nginx",    "jenkins", "ubuntu", "git"};

constexpr absl::string_view kGroups[] = {"staff", "developers", "www-data", "admin",
                                         "users", "docker",     "wheel",    "ops"};

constexpr absl::string_view kProcesses[] = {
    "nginx",  "python",       "java",    "node",   "firefox", "sshd", "postgres",
    "mysqld", "redis-server", "apache2", "chrome", "dockerd", "cron"};

constexpr absl::string_view kArchiveStems[] = {"backup",  "project", "logs",    "site",   "release",
                                               "archive", "photos",  "src",     "data",   "docs",
                                               "website", "configs", "reports", "dataset"};

constexpr absl::string_view kArchiveSuffixes[] = {"", "", "", "-old", "-2024", "-v2", "-final"};

constexpr absl::string_view kPathParts[] = {
    "project", "src",  "lib", "build", "output", "data", "2024", "reports", "images",    "tmp",
    "cache",   "logs", "app", "utils", "docs",   "v1",   "test", "raw",     "processed", "backups"};

constexpr absl::string_view kEchoTexts[] = {"hello world",
                                            "done",
                                            "Hello, World!",
                                            "backup complete",
                                            "test",
                                            "OK",
                                            "Build finished",
                                            "TODO: fix this",
                                            "export EDITOR=vim",
                                            "127.0.0.1 localhost",
                                            "# generated file",
                                            "version=1.0"};

constexpr int kLineCounts[] = {3, 5, 10, 15, 20, 25, 30, 50, 100, 200};
constexpr int kDayCounts[] = {1, 2, 3, 5, 7, 10, 14, 30, 60, 90, 365};
constexpr absl::string_view kOrdinals[] = {"first", "second", "third", "fourth", "fifth", "sixth"};

struct SizeThreshold {
  absl::string_view flag;  // find -size argument
  absl::string_view words;
};
constexpr SizeThreshold kSizes[] = {{"+1M", "1 MB"},     {"+10M", "10 MB"},   {"+50M", "50 MB"},
                                    {"+100M", "100 MB"}, {"+500M", "500 MB"}, {"+1G", "1 GB"},
                                    {"+2G", "2 GB"},     {"+100k", "100 KB"}, {"+500k", "500 KB"},
                                    {"+20M", "20 MB"}};

struct NumericMode {
  absl::string_view mode;
  absl::string_view meaning;  // empty when there is no short plain-English reading
};
constexpr NumericMode kNumericModes[] = {
    {"644", "readable by everyone but writable only by its owner"},
    {"755", "readable and executable by everyone but writable only by its owner"},
    {"700", "accessible only by its owner"},
    {"600", "readable and writable by its owner only"},
    {"444", "read-only for everyone"},
    {"777", "readable, writable and executable by everyone"},
    {"400", "readable by its owner only"},
    {"640", ""},
    {"750", ""},
    {"664", ""},
    {"775", ""}};

struct SymbolicMode {
  absl::string_view mode;
  absl::string_view phrasing_a;
  absl::string_view phrasing_b;
};
constexpr SymbolicMode kSymbolicModes[] = {
    {"+x", "Make {file} executable", "Add execute permission to {file}"},
    {"u+x", "Make {file} executable by its owner", "Give the owner execute permission on {file}"},
    {"a+x", "Make {file} executable by all users", "Add execute permission for everyone to {file}"},
    {"g+w", "Give the group write permission on {file}",
     "Allow members of the owning group to modify {file}"},
    {"o-r", "Remove read permission for others from {file}",
     "Stop other users from reading {file}"},
    {"a+r", "Make {file} readable by everyone", "Add read permission for all users to {file}"},
    {"go-w", "Remove write permission for the group and others from {file}",
     "Take away write access from the group and other users on {file}"},
    {"u-w", "Remove the owner's write permission from {file}",
     "Make {file} not writable by its owner"},
    {"o-rwx", "Remove all permissions for others from {file}",
     "Deny other users any access to {file}"},
    {"a-x", "Remove execute permission from {file} for everyone",
     "Make {file} non-executable for all users"}};

struct ReplacementPair {
  absl::string_view from;
  absl::string_view to;
};
constexpr ReplacementPair kReplacements[] = {
    {"foo", "bar"},       {"http:", "https:"}, {"colour", "color"}, {"teh", "the"},
    {"TODO", "DONE"},     {"debug", "info"},   {"false", "true"},   {"8080", "9090"},
    {"v1", "v2"},         {"old", "new"},      {"DEBUG", "INFO"},   {"master", "main"},
    {"Windows", "Linux"}, {"2023", "2024"},    {"localhost", "db"}, {"alice", "bob"}};

struct PasswdField {
  int column;
  absl::string_view what;
};
constexpr PasswdField kPasswdFields[] = {
    {1, "user name"}, {3, "user ID"}, {4, "group ID"}, {6, "home directory"}, {7, "login shell"}};

struct LinkPair {
  absl::string_view target;
  absl::string_view link;
};
constexpr LinkPair kLinks[] = {
    {"/usr/bin/python3", "python"},
    {"/opt/app/releases/v2", "/opt/app/current"},
    {"/var/www/html", "www"},
    {"~/dotfiles/.vimrc", "~/.vimrc"},
    {"/usr/local/bin/node", "node"},
    {"../shared/config.yaml", "config.yaml"},
    {"/etc/nginx/sites-available/default", "/etc/nginx/sites-enabled/default"},
    {"build/app", "app"},
    {"/data/logs", "logs"},
    {"~/dotfiles/.bashrc", "~/.bashrc"}};

// ---------------------------------------------------------------------------------------------
// Drawing values.

// A directory as written in the command and as said in English.
struct Place {
  std::string bash;
  std::string english;
};

Place SearchDir(SplitMix64& rng) {
  const absl::string_view dir = rng.ModuloPick(kSearchDirs);
  if (dir == ".") {
    constexpr absl::string_view kHere[] = {"the current directory", "the current folder",
                                           "the working directory"};
    return {".", std::string(rng.ModuloPick(kHere))};
  }
  if (dir == "~") {
    constexpr absl::string_view kHome[] = {"your home directory", "the home directory"};
    return {"~", std::string(rng.ModuloPick(kHome))};
  }
  constexpr absl::string_view kForms[] = {"{d}", "{d}", "the {d} directory", "the directory {d}"};
  return {std::string(dir), absl::StrReplaceAll(rng.ModuloPick(kForms), {{"{d}", dir}})};
}

Place ObjectDir(SplitMix64& rng) {
  const absl::string_view dir = rng.ModuloPick(kObjectDirs);
  constexpr absl::string_view kForms[] = {"{d}", "{d}", "the {d} directory", "the directory {d}"};
  return {std::string(dir), absl::StrReplaceAll(rng.ModuloPick(kForms), {{"{d}", dir}})};
}

std::string TextFile(SplitMix64& rng) {
  const absl::string_view prefix = rng.ModuloPick(kFileDirPrefixes);
  const absl::string_view stem = rng.ModuloPick(kFileStems);
  const absl::string_view extension = rng.ModuloPick(kTextExtensions);
  return absl::StrCat(prefix, stem, ".", extension);
}

std::string OtherTextFile(SplitMix64& rng, const std::string& not_this) {
  std::string file = TextFile(rng);
  while (file == not_this) file = TextFile(rng);
  return file;
}

std::string CsvFile(SplitMix64& rng) {
  const bool in_data_dir = rng.ModuloPercent(30);
  const absl::string_view stem = rng.ModuloPick(kFileStems);
  return absl::StrCat(in_data_dir ? "data/" : "", stem, ".csv");
}

std::string LogFile(SplitMix64& rng) { return std::string(rng.ModuloPick(kLogFiles)); }

// A file that holds one value per line, as sort/uniq examples expect.
std::string ListFile(SplitMix64& rng) { return rng.ModuloPercent(25) ? LogFile(rng) : TextFile(rng); }

std::string ArchiveStem(SplitMix64& rng) {
  const absl::string_view stem = rng.ModuloPick(kArchiveStems);
  const absl::string_view suffix = rng.ModuloPick(kArchiveSuffixes);
  return absl::StrCat(stem, suffix);
}

std::string Pattern(SplitMix64& rng) { return std::string(rng.ModuloPick(kPatterns)); }

std::string NestedPath(SplitMix64& rng) {
  const int depth = rng.ModuloBetween(2, 4);
  std::string path;
  for (int i = 0; i < depth; ++i) {
    const absl::string_view part = rng.ModuloPick(kPathParts);
    absl::StrAppend(&path, i == 0 ? "" : "/", part);
  }
  return path;
}

// ---------------------------------------------------------------------------------------------
// Command shapes. Each returns one example; the English says exactly what the command does.

Example FindByExtension(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  const absl::string_view ext = rng.ModuloPick(kFindExtensions);
  return Compose(rng,
                 {"Find all .{ext} files in {dir}", "List every file ending in .{ext} under {dir}",
                  "Search {dir} recursively for files with the .{ext} extension",
                  "Locate all regular files named *.{ext} below {dir}",
                  "Show the paths of all .{ext} files in {dir} and its subdirectories"},
                 {{"{ext}", ext}, {"{dir}", dir.english}},
                 absl::StrCat("find ", dir.bash, " -type f -name '*.", ext, "'"));
}

Example FindByExactName(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  const absl::string_view stem = rng.ModuloPick(kFileStems);
  const absl::string_view ext = rng.ModuloPick(kTextExtensions);
  const std::string name = absl::StrCat(stem, ".", ext);
  return Compose(
      rng,
      {"Find anything named {name} under {dir}",
       "Locate {name} in {dir} or any of its subdirectories",
       "Search {dir} for files or directories called {name}", "Where is {name} inside {dir}?"},
      {{"{name}", name}, {"{dir}", dir.english}},
      absl::StrCat("find ", dir.bash, " -name '", name, "'"));
}

Example FindCaseInsensitive(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  const absl::string_view ext = rng.ModuloPick(kFindExtensions);
  return Compose(rng,
                 {"Find all paths under {dir} ending in .{ext}, ignoring case",
                  "Case-insensitively search {dir} for names ending with .{ext}",
                  "Find everything below {dir} whose name ends in .{ext} in any letter case"},
                 {{"{ext}", ext}, {"{dir}", dir.english}},
                 absl::StrCat("find ", dir.bash, " -iname '*.", ext, "'"));
}

Example FindDirectories(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  return Compose(rng,
                 {"List all directories under {dir} recursively",
                  "Find every directory below {dir}, including {dir} itself",
                  "Show the whole directory tree of {dir}, directories only"},
                 {{"{dir}", dir.english}}, absl::StrCat("find ", dir.bash, " -type d"));
}

Example FindRecentlyModified(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  const int days = rng.ModuloPick(kDayCounts);
  const std::string period = CountOf(days, "day");
  return Compose(rng,
                 {"Find every file in {dir} modified in the last {period}",
                  "List files under {dir} that were changed within the past {period}",
                  "Show all files below {dir} modified less than {period} ago",
                  "Which files in {dir} have been modified in the last {period}?"},
                 {{"{dir}", dir.english}, {"{period}", period}},
                 absl::StrCat("find ", dir.bash, " -type f -mtime -", days));
}

Example FindOld(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  const int days = rng.ModuloPick(kDayCounts);
  const std::string period = CountOf(days, "day");
  return Compose(rng,
                 {"Find files in {dir} that have not been modified for more than {period}",
                  "List files under {dir} older than {period}",
                  "Show every file below {dir} last modified more than {period} ago"},
                 {{"{dir}", dir.english}, {"{period}", period}},
                 absl::StrCat("find ", dir.bash, " -type f -mtime +", days));
}

Example FindLarge(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  const SizeThreshold& size = rng.ModuloPick(kSizes);
  return Compose(
      rng,
      {"Find all files larger than {size} in {dir}", "List files under {dir} bigger than {size}",
       "Search {dir} for files over {size} in size",
       "Which files in {dir} are larger than {size}?"},
      {{"{dir}", dir.english}, {"{size}", size.words}},
      absl::StrCat("find ", dir.bash, " -type f -size ", size.flag));
}

Example FindLargeDetailed(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  const SizeThreshold& size = rng.ModuloPick(kSizes);
  return Compose(
      rng,
      {"Show a detailed listing with human-readable sizes of every file over {size} "
       "under {dir}",
       "Run ls -lh on each file larger than {size} in {dir}"},
      {{"{dir}", dir.english}, {"{size}", size.words}},
      absl::StrCat("find ", dir.bash, " -type f -size ", size.flag, " -exec ls -lh {} \\;"));
}

Example FindDeleteByExtension(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  const absl::string_view ext = rng.ModuloPick(kFindExtensions);
  return Compose(rng,
                 {"Delete all .{ext} files under {dir}",
                  "Remove every file ending in .{ext} from {dir} and its subdirectories",
                  "Recursively delete the .{ext} files in {dir}"},
                 {{"{ext}", ext}, {"{dir}", dir.english}},
                 absl::StrCat("find ", dir.bash, " -type f -name '*.", ext, "' -delete"));
}

Example FindDeleteOld(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  const int days = rng.ModuloPick(kDayCounts);
  const std::string period = CountOf(days, "day");
  return Compose(rng,
                 {"Delete files in {dir} older than {period}",
                  "Remove every file under {dir} not modified in more than {period}",
                  "Clean up {dir} by deleting files last changed over {period} ago"},
                 {{"{dir}", dir.english}, {"{period}", period}},
                 absl::StrCat("find ", dir.bash, " -type f -mtime +", days, " -exec rm {} \\;"));
}

Example FindChmodByExtension(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  const absl::string_view ext = rng.ModuloPick(kFindExtensions);
  const NumericMode& mode = rng.ModuloPick(kNumericModes);
  return Compose(rng,
                 {"Set permissions {mode} on every .{ext} file under {dir}",
                  "Change the mode of all .{ext} files in {dir} and its subdirectories to {mode}"},
                 {{"{ext}", ext}, {"{dir}", dir.english}, {"{mode}", mode.mode}},
                 absl::StrCat("find ", dir.bash, " -type f -name '*.", ext, "' -exec chmod ",
                              mode.mode, " {} \\;"));
}

Example FindTopLevelFiles(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  return Compose(rng,
                 {"List the regular files directly inside {dir}, without descending into "
                  "subdirectories",
                  "Find files at the top level of {dir} only",
                  "Show files in {dir} but not in its subdirectories"},
                 {{"{dir}", dir.english}}, absl::StrCat("find ", dir.bash, " -maxdepth 1 -type f"));
}

Example FindWithMaxDepth(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  const absl::string_view ext = rng.ModuloPick(kFindExtensions);
  const int depth = rng.ModuloBetween(2, 4);
  const std::string levels = CountOf(depth, "level");
  return Compose(
      rng,
      {"Find .{ext} files in {dir} at most {levels} deep",
       "Search for .{ext} files under {dir}, descending no more than {levels}"},
      {{"{ext}", ext}, {"{dir}", dir.english}, {"{levels}", levels}},
      absl::StrCat("find ", dir.bash, " -maxdepth ", depth, " -type f -name '*.", ext, "'"));
}

Example FindEmpty(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  if (rng.ModuloPercent(50)) {
    return Compose(rng, {"Find empty files under {dir}", "List all zero-length files in {dir}"},
                   {{"{dir}", dir.english}}, absl::StrCat("find ", dir.bash, " -type f -empty"));
  }
  return Compose(
      rng, {"Delete all empty directories under {dir}", "Remove every empty subdirectory of {dir}"},
      {{"{dir}", dir.english}},
      absl::StrCat("find ", dir.bash, " -mindepth 1 -type d -empty -delete"));
}

Example FindByExtensionAndAge(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  const absl::string_view ext = rng.ModuloPick(kFindExtensions);
  const int days = rng.ModuloPick(kDayCounts);
  const std::string period = CountOf(days, "day");
  return Compose(rng,
                 {"Find .{ext} files in {dir} modified in the last {period}",
                  "List the .{ext} files under {dir} that changed within the past {period}"},
                 {{"{ext}", ext}, {"{dir}", dir.english}, {"{period}", period}},
                 absl::StrCat("find ", dir.bash, " -type f -name '*.", ext, "' -mtime -", days));
}

Example FindByOwner(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  const absl::string_view user = rng.ModuloPick(kUsers);
  return Compose(rng,
                 {"Find all files owned by {user} in {dir}",
                  "List files under {dir} that belong to user {user}"},
                 {{"{dir}", dir.english}, {"{user}", user}},
                 absl::StrCat("find ", dir.bash, " -type f -user ", user));
}

Example FindXargsGrep(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  const absl::string_view ext = rng.ModuloPick(kFindExtensions);
  const std::string pattern = Pattern(rng);
  return Compose(rng,
                 {"List the .{ext} files under {dir} that contain {pat}",
                  "Find .{ext} files in {dir} mentioning {pat}",
                  "Which .{ext} files below {dir} include the text {pat}?"},
                 {{"{ext}", ext}, {"{dir}", dir.english}, {"{pat}", Quoted(pattern)}},
                 absl::StrCat("find ", dir.bash, " -type f -name '*.", ext, "' | xargs grep -l '",
                              pattern, "'"));
}

Example FindXargsWc(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  const absl::string_view ext = rng.ModuloPick(kFindExtensions);
  return Compose(rng,
                 {"Count the lines in each .{ext} file under {dir}",
                  "Show line counts for all .{ext} files in {dir} and its subdirectories"},
                 {{"{ext}", ext}, {"{dir}", dir.english}},
                 absl::StrCat("find ", dir.bash, " -type f -name '*.", ext, "' | xargs wc -l"));
}

Example FindCount(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  if (rng.ModuloPercent(50)) {
    return Compose(
        rng,
        {"Count all files under {dir}", "How many files are in {dir} and its subdirectories?",
         "Print the number of regular files below {dir}"},
        {{"{dir}", dir.english}}, absl::StrCat("find ", dir.bash, " -type f | wc -l"));
  }
  const absl::string_view ext = rng.ModuloPick(kFindExtensions);
  return Compose(
      rng, {"Count the .{ext} files under {dir}", "How many .{ext} files are there in {dir}?"},
      {{"{ext}", ext}, {"{dir}", dir.english}},
      absl::StrCat("find ", dir.bash, " -type f -name '*.", ext, "' | wc -l"));
}

Example GrepFile(SplitMix64& rng) {
  const std::string file = TextFile(rng);
  const std::string pattern = Pattern(rng);
  return Compose(
      rng,
      {"Show lines in {file} that contain {pat}", "Print every line of {file} containing {pat}",
       "Search {file} for {pat}", "Display all lines matching {pat} in {file}"},
      {{"{file}", file}, {"{pat}", Quoted(pattern)}}, absl::StrCat("grep '", pattern, "' ", file));
}

Example GrepIgnoreCase(SplitMix64& rng) {
  const std::string file = TextFile(rng);
  const std::string pattern = Pattern(rng);
  return Compose(rng,
                 {"Show lines in {file} containing {pat}, ignoring case",
                  "Case-insensitively search {file} for {pat}",
                  "Find lines in {file} that contain {pat} in any letter case"},
                 {{"{file}", file}, {"{pat}", Quoted(pattern)}},
                 absl::StrCat("grep -i '", pattern, "' ", file));
}

Example GrepLineNumbers(SplitMix64& rng) {
  const std::string file = TextFile(rng);
  const std::string pattern = Pattern(rng);
  return Compose(rng,
                 {"Show the lines containing {pat} in {file} along with their line numbers",
                  "Search {file} for {pat} and print line numbers",
                  "Find {pat} in {file}, showing the line number of each match"},
                 {{"{file}", file}, {"{pat}", Quoted(pattern)}},
                 absl::StrCat("grep -n '", pattern, "' ", file));
}

Example GrepRecursive(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  const std::string pattern = Pattern(rng);
  return Compose(rng,
                 {"Recursively search {dir} for {pat}", "Search all files under {dir} for {pat}",
                  "Find occurrences of {pat} in every file below {dir}"},
                 {{"{dir}", dir.english}, {"{pat}", Quoted(pattern)}},
                 absl::StrCat("grep -r '", pattern, "' ", dir.bash));
}

Example GrepRecursiveIgnoreCase(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  const std::string pattern = Pattern(rng);
  return Compose(rng,
                 {"Recursively search {dir} for {pat}, ignoring case",
                  "Search every file under {dir} for {pat} regardless of letter case"},
                 {{"{dir}", dir.english}, {"{pat}", Quoted(pattern)}},
                 absl::StrCat("grep -ri '", pattern, "' ", dir.bash));
}

Example GrepFilesWithMatches(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  const std::string pattern = Pattern(rng);
  return Compose(rng,
                 {"List the files under {dir} that contain {pat}",
                  "Print the names of files in {dir} (recursively) containing {pat}",
                  "Which files in {dir} mention {pat}?"},
                 {{"{dir}", dir.english}, {"{pat}", Quoted(pattern)}},
                 absl::StrCat("grep -rl '", pattern, "' ", dir.bash));
}

Example GrepInvert(SplitMix64& rng) {
  const std::string file = TextFile(rng);
  const std::string pattern = Pattern(rng);
  return Compose(rng,
                 {"Show the lines of {file} that do not contain {pat}",
                  "Print {file} without the lines matching {pat}",
                  "Filter out lines containing {pat} from {file}"},
                 {{"{file}", file}, {"{pat}", Quoted(pattern)}},
                 absl::StrCat("grep -v '", pattern, "' ", file));
}

Example GrepCount(SplitMix64& rng) {
  const std::string file = rng.ModuloPercent(50) ? LogFile(rng) : TextFile(rng);
  const std::string pattern = Pattern(rng);
  return Compose(
      rng,
      {"Count the lines in {file} that contain {pat}", "How many lines of {file} match {pat}?",
       "Print the number of lines containing {pat} in {file}"},
      {{"{file}", file}, {"{pat}", Quoted(pattern)}},
      absl::StrCat("grep -c '", pattern, "' ", file));
}

Example GrepAlternatives(SplitMix64& rng) {
  const std::string file = TextFile(rng);
  const absl::string_view first = rng.ModuloPick(kWords);
  absl::string_view second = rng.ModuloPick(kWords);
  while (second == first) second = rng.ModuloPick(kWords);
  return Compose(
      rng,
      {"Show lines in {file} containing either {a} or {b}",
       "Print lines of {file} that match {a} or {b}", "Search {file} for lines with {a} or {b}"},
      {{"{file}", file}, {"{a}", Quoted(first)}, {"{b}", Quoted(second)}},
      absl::StrCat("grep -E '", first, "|", second, "' ", file));
}

Example GrepWholeWord(SplitMix64& rng) {
  const std::string file = TextFile(rng);
  const absl::string_view word = rng.ModuloPick(kWords);
  return Compose(rng,
                 {"Find lines in {file} containing the whole word {w}",
                  "Search {file} for {w} as a complete word",
                  "Show lines with the word {w} in {file}, not as part of a longer word"},
                 {{"{file}", file}, {"{w}", Quoted(word)}},
                 absl::StrCat("grep -w '", word, "' ", file));
}

Example GrepIncludeExtension(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  const absl::string_view ext = rng.ModuloPick(kFindExtensions);
  const std::string pattern = Pattern(rng);
  return Compose(rng,
                 {"Search all .{ext} files under {dir} for {pat} and show line numbers",
                  "Find {pat} in the .{ext} files below {dir}, printing file names and line "
                  "numbers"},
                 {{"{ext}", ext}, {"{dir}", dir.english}, {"{pat}", Quoted(pattern)}},
                 absl::StrCat("grep -rn --include='*.", ext, "' '", pattern, "' ", dir.bash));
}

Example GrepHeadTail(SplitMix64& rng) {
  const std::string file = rng.ModuloPercent(60) ? LogFile(rng) : TextFile(rng);
  const std::string pattern = Pattern(rng);
  const int n = rng.ModuloPick(kLineCounts);
  if (rng.ModuloPercent(50)) {
    return Compose(rng,
                   {"Show the first {n} lines of {file} that contain {pat}",
                    "Print only the first {n} matches of {pat} in {file}"},
                   {{"{file}", file}, {"{pat}", Quoted(pattern)}, {"{n}", absl::StrCat(n)}},
                   absl::StrCat("grep '", pattern, "' ", file, " | head -n ", n));
  }
  return Compose(rng,
                 {"Show the last {n} lines of {file} that contain {pat}",
                  "Print the {n} most recent lines mentioning {pat} in {file}"},
                 {{"{file}", file}, {"{pat}", Quoted(pattern)}, {"{n}", absl::StrCat(n)}},
                 absl::StrCat("grep '", pattern, "' ", file, " | tail -n ", n));
}

Example ListPlain(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  return Compose(rng, {"List the contents of {dir}", "Show what is in {dir}"},
                 {{"{dir}", dir.english}}, absl::StrCat("ls ", dir.bash));
}

struct LsVariant {
  absl::string_view flags;
  absl::string_view templates[3];  // trailing empty entries are unused

  size_t template_count() const {
    size_t count = 0;
    while (count < 3 && !templates[count].empty()) ++count;
    return count;
  }
};

Example ListVariant(SplitMix64& rng) {
  static constexpr LsVariant kVariants[] = {
      {"-l",
       {"List the files in {dir} in long format",
        "Show detailed information about the files in {dir}",
        "Display the contents of {dir} with permissions, owners and sizes"}},
      {"-a",
       {"List all files in {dir}, including hidden ones", "Show the hidden files in {dir} too",
        "Display every entry in {dir}, dotfiles included"}},
      {"-la",
       {"Show a detailed listing of all files in {dir}, hidden files included",
        "List everything in {dir} in long format, including hidden files"}},
      {"-lh",
       {"List the files in {dir} with human-readable sizes",
        "Show a long listing of {dir} with sizes in K, M and G"}},
      {"-lt",
       {"List the files in {dir} sorted by modification time, newest first",
        "Show the contents of {dir} ordered by date, most recent first"}},
      {"-ltr",
       {"List the files in {dir} by modification time, oldest first",
        "Show the contents of {dir} sorted by time in reverse order"}},
      {"-lS",
       {"List the files in {dir} sorted by size, largest first",
        "Show the contents of {dir} ordered from biggest to smallest"}},
      {"-lhS", {"List the files in {dir} by size, largest first, with human-readable sizes"}},
      {"-lSr",
       {"List the files in {dir} sorted by size, smallest first",
        "Show the contents of {dir} ordered from smallest to biggest"}},
  };
  const Place dir = SearchDir(rng);
  const LsVariant& variant = rng.ModuloPick(kVariants);
  return ComposeFrom(rng, variant.templates, variant.template_count(), {{"{dir}", dir.english}},
                     absl::StrCat("ls ", variant.flags, " ", dir.bash));
}

Example ListNewest(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  const int n = rng.ModuloPick(kLineCounts);
  return Compose(rng,
                 {"Show the {n} most recently modified files in {dir}",
                  "List the {n} newest entries in {dir}"},
                 {{"{dir}", dir.english}, {"{n}", absl::StrCat(n)}},
                 absl::StrCat("ls -t ", dir.bash, " | head -n ", n));
}

Example ListCountEntries(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  return Compose(rng,
                 {"Count the entries in {dir}, not including hidden ones",
                  "How many non-hidden files and directories are directly inside {dir}?"},
                 {{"{dir}", dir.english}}, absl::StrCat("ls ", dir.bash, " | wc -l"));
}

Example ListSubdirectoriesLong(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  return Compose(rng,
                 {"List only the subdirectories of {dir} in long format",
                  "Show a long listing of the directories directly inside {dir}"},
                 {{"{dir}", dir.english}}, absl::StrCat("ls -l ", dir.bash, " | grep '^d'"));
}

Example WordCount(SplitMix64& rng) {
  const std::string file = TextFile(rng);
  switch (rng.ModuloBelow(3)) {
    case 0:
      return Compose(rng,
                     {"Count the number of lines in {file}", "How many lines does {file} have?",
                      "Print the line count of {file}"},
                     {{"{file}", file}}, absl::StrCat("wc -l ", file));
    case 1:
      return Compose(rng,
                     {"Count the words in {file}", "How many words are in {file}?",
                      "Print the word count of {file}"},
                     {{"{file}", file}}, absl::StrCat("wc -w ", file));
    default:
      return Compose(rng,
                     {"Count the bytes in {file}", "How many bytes long is {file}?",
                      "Print the size of {file} in bytes"},
                     {{"{file}", file}}, absl::StrCat("wc -c ", file));
  }
}

Example SortVariant(SplitMix64& rng) {
  const std::string file = ListFile(rng);
  switch (rng.ModuloBelow(7)) {
    case 0:
      return Compose(rng, {"Sort the lines of {file} alphabetically", "Print {file} sorted"},
                     {{"{file}", file}}, absl::StrCat("sort ", file));
    case 1:
      return Compose(rng,
                     {"Sort {file} numerically",
                      "Sort the numbers in {file} from smallest to "
                      "largest"},
                     {{"{file}", file}}, absl::StrCat("sort -n ", file));
    case 2:
      return Compose(rng,
                     {"Sort {file} in reverse alphabetical order",
                      "Print the lines of {file} sorted in reverse"},
                     {{"{file}", file}}, absl::StrCat("sort -r ", file));
    case 3:
      return Compose(rng,
                     {"Sort {file} numerically in descending order",
                      "Sort the numbers in {file} from largest to smallest"},
                     {{"{file}", file}}, absl::StrCat("sort -nr ", file));
    case 4:
      return Compose(rng,
                     {"Sort {file} and remove duplicate lines",
                      "Print the unique lines of {file} in sorted order"},
                     {{"{file}", file}}, absl::StrCat("sort -u ", file));
    case 5:
      return Compose(rng, {"Sort {file} in place", "Sort {file} and write the result back to it"},
                     {{"{file}", file}}, absl::StrCat("sort -o ", file, " ", file));
    default: {
      const int column = rng.ModuloBetween(1, 5);
      const absl::string_view ordinal = kOrdinals[column - 1];
      return Compose(rng,
                     {"Sort {file} numerically by its {ord} column",
                      "Order the lines of {file} by the number in the {ord} field"},
                     {{"{file}", file}, {"{ord}", ordinal}},
                     absl::StrCat("sort -k", column, " -n ", file));
    }
  }
}

Example SortCsvColumn(SplitMix64& rng) {
  const std::string file = CsvFile(rng);
  const int column = rng.ModuloBetween(1, 6);
  const absl::string_view ordinal = kOrdinals[column - 1];
  const bool descending = rng.ModuloPercent(50);
  if (descending) {
    return Compose(rng,
                   {"Sort {file} by its {ord} comma-separated field, largest number first",
                    "Sort the rows of {file} in descending numeric order of column {col}"},
                   {{"{file}", file}, {"{ord}", ordinal}, {"{col}", absl::StrCat(column)}},
                   absl::StrCat("sort -t',' -k", column, " -nr ", file));
  }
  return Compose(rng,
                 {"Sort {file} numerically by its {ord} comma-separated field",
                  "Sort the rows of {file} in ascending numeric order of column {col}"},
                 {{"{file}", file}, {"{ord}", ordinal}, {"{col}", absl::StrCat(column)}},
                 absl::StrCat("sort -t',' -k", column, " -n ", file));
}

Example HeadTail(SplitMix64& rng) {
  const std::string file = rng.ModuloPercent(40) ? LogFile(rng) : TextFile(rng);
  const int n = rng.ModuloPick(kLineCounts);
  const std::string count = absl::StrCat(n);
  switch (rng.ModuloBelow(4)) {
    case 0:
      return Compose(rng,
                     {"Show the first {n} lines of {file}", "Print the first {n} lines of {file}",
                      "Display the top {n} lines of {file}"},
                     {{"{file}", file}, {"{n}", count}}, absl::StrCat("head -n ", n, " ", file));
    case 1:
      return Compose(rng,
                     {"Show the last {n} lines of {file}", "Print the final {n} lines of {file}",
                      "Display the bottom {n} lines of {file}"},
                     {{"{file}", file}, {"{n}", count}}, absl::StrCat("tail -n ", n, " ", file));
    case 2:
      return Compose(rng,
                     {"Follow {file} as it grows", "Watch the end of {file} for new lines",
                      "Continuously display new lines appended to {file}"},
                     {{"{file}", file}}, absl::StrCat("tail -f ", file));
    default:
      return Compose(rng,
                     {"Show the last {n} lines of {file} and keep printing new ones",
                      "Print the final {n} lines of {file}, then follow it"},
                     {{"{file}", file}, {"{n}", count}}, absl::StrCat("tail -n ", n, " -f ", file));
  }
}

Example DiskUsage(SplitMix64& rng) {
  const Place dir = SearchDir(rng);
  switch (rng.ModuloBelow(5)) {
    case 0:
      return Compose(rng,
                     {"Show the total size of {dir}", "How much disk space does {dir} use?",
                      "Print the total disk usage of {dir} in human-readable form"},
                     {{"{dir}", dir.english}}, absl::StrCat("du -sh ", dir.bash));
    case 1:
      return Compose(rng,
                     {"Show the disk usage of {dir} and each of its subdirectories in "
                      "human-readable form",
                      "Report how much space every directory under {dir} takes, in K, M and G"},
                     {{"{dir}", dir.english}}, absl::StrCat("du -h ", dir.bash));
    case 2:
      return Compose(rng,
                     {"Show the disk usage of every file and directory under {dir}",
                      "List the size of each file and folder below {dir}, human-readable"},
                     {{"{dir}", dir.english}}, absl::StrCat("du -ah ", dir.bash));
    case 3:
      return Compose(rng,
                     {"Show the size of each immediate subdirectory of {dir}",
                      "Summarize disk usage one level deep in {dir}"},
                     {{"{dir}", dir.english}}, absl::StrCat("du -h --max-depth=1 ", dir.bash));
    default: {
      const int n = rng.ModuloBetween(3, 10);
      return Compose(rng,
                     {"Show the {n} largest entries directly inside {dir}, biggest first",
                      "Which {n} items in {dir} take the most disk space?"},
                     {{"{dir}", dir.english}, {"{n}", absl::StrCat(n)}},
                     absl::StrCat("du -sh ", dir.bash == "." ? "" : absl::StrCat(dir.bash, "/"),
                                  "* | sort -hr | head -n ", n));
    }
  }
}

Example DiskFree(SplitMix64& rng) {
  if (rng.ModuloPercent(50)) {
    return Compose(
        rng,
        {"Show free disk space on all mounted filesystems in human-readable form",
         "Display the disk usage of every filesystem", "How much free space is left on the disks?",
         "Report used and available space for each mounted filesystem in K, M and G"},
        {}, "df -h");
  }
  const Place dir = SearchDir(rng);
  return Compose(rng,
                 {"Show the free space on the filesystem that holds {dir}",
                  "How much disk space is available where {dir} is stored?"},
                 {{"{dir}", dir.english}}, absl::StrCat("df -h ", dir.bash));
}

Example ChmodNumeric(SplitMix64& rng) {
  const std::string file = TextFile(rng);
  const NumericMode& mode = rng.ModuloPick(kNumericModes);
  if (!mode.meaning.empty() && rng.ModuloPercent(40)) {
    return Compose(rng,
                   {"Make {file} {meaning}",
                    "Change the permissions of {file} so it is "
                    "{meaning}"},
                   {{"{file}", file}, {"{meaning}", mode.meaning}},
                   absl::StrCat("chmod ", mode.mode, " ", file));
  }
  return Compose(rng,
                 {"Set the permissions of {file} to {mode}", "Change the mode of {file} to {mode}",
                  "Give {file} permissions {mode}"},
                 {{"{file}", file}, {"{mode}", mode.mode}},
                 absl::StrCat("chmod ", mode.mode, " ", file));
}

Example ChmodSymbolic(SplitMix64& rng) {
  const std::string file =
      rng.ModuloPercent(30) ? absl::StrCat(rng.ModuloPick(kFileStems), ".sh") : TextFile(rng);
  const SymbolicMode& mode = rng.ModuloPick(kSymbolicModes);
  return Compose(rng, {mode.phrasing_a, mode.phrasing_b}, {{"{file}", file}},
                 absl::StrCat("chmod ", mode.mode, " ", file));
}

Example ChmodRecursive(SplitMix64& rng) {
  const Place dir = ObjectDir(rng);
  const NumericMode& mode = rng.ModuloPick(kNumericModes);
  return Compose(rng,
                 {"Recursively set the permissions of {dir} and everything in it to {mode}",
                  "Change the mode of {dir} and all its contents to {mode}"},
                 {{"{dir}", dir.english}, {"{mode}", mode.mode}},
                 absl::StrCat("chmod -R ", mode.mode, " ", dir.bash));
}

Example Chown(SplitMix64& rng) {
  const absl::string_view user = rng.ModuloPick(kUsers);
  switch (rng.ModuloBelow(3)) {
    case 0: {
      const std::string file = TextFile(rng);
      return Compose(rng,
                     {"Change the owner of {file} to {user}", "Make {user} the owner of {file}"},
                     {{"{file}", file}, {"{user}", user}}, absl::StrCat("chown ", user, " ", file));
    }
    case 1: {
      const std::string file = TextFile(rng);
      const absl::string_view group = rng.ModuloPick(kGroups);
      return Compose(rng,
                     {"Change the owner of {file} to {user} and its group to {group}",
                      "Set the owner and group of {file} to {user}:{group}"},
                     {{"{file}", file}, {"{user}", user}, {"{group}", group}},
                     absl::StrCat("chown ", user, ":", group, " ", file));
    }
    default: {
      const Place dir = ObjectDir(rng);
      const absl::string_view group = rng.ModuloPick(kGroups);
      return Compose(rng,
                     {"Recursively change the owner of {dir} to {user} and the group to {group}",
                      "Give {user}:{group} ownership of {dir} and everything inside it"},
                     {{"{dir}", dir.english}, {"{user}", user}, {"{group}", group}},
                     absl::StrCat("chown -R ", user, ":", group, " ", dir.bash));
    }
  }
}

Example Tar(SplitMix64& rng) {
  const std::string archive = absl::StrCat(ArchiveStem(rng), ".tar.gz");
  switch (rng.ModuloBelow(4)) {
    case 0: {
      const Place dir = ObjectDir(rng);
      return Compose(rng,
                     {"Create a gzip-compressed tar archive {archive} of {dir}",
                      "Compress {dir} into {archive}", "Archive {dir} as {archive}"},
                     {{"{archive}", archive}, {"{dir}", dir.english}},
                     absl::StrCat("tar czf ", archive, " ", dir.bash));
    }
    case 1:
      return Compose(rng,
                     {"Extract {archive}",
                      "Unpack the archive {archive} into the current "
                      "directory",
                      "Decompress and extract {archive} here"},
                     {{"{archive}", archive}}, absl::StrCat("tar xzf ", archive));
    case 2: {
      const Place dir = ObjectDir(rng);
      return Compose(rng,
                     {"Extract {archive} into {dir}",
                      "Unpack {archive} into the existing "
                      "directory {bare}"},
                     {{"{archive}", archive}, {"{dir}", dir.english}, {"{bare}", dir.bash}},
                     absl::StrCat("tar xzf ", archive, " -C ", dir.bash));
    }
    default:
      return Compose(rng,
                     {"List the contents of {archive} without extracting it",
                      "Show which files are inside {archive}"},
                     {{"{archive}", archive}}, absl::StrCat("tar tzf ", archive));
  }
}

Example Zip(SplitMix64& rng) {
  const std::string archive = absl::StrCat(ArchiveStem(rng), ".zip");
  switch (rng.ModuloBelow(4)) {
    case 0: {
      const Place dir = ObjectDir(rng);
      return Compose(
          rng, {"Create a zip archive {archive} containing {dir}", "Zip up {dir} into {archive}"},
          {{"{archive}", archive}, {"{dir}", dir.english}},
          absl::StrCat("zip -r ", archive, " ", dir.bash));
    }
    case 1:
      return Compose(rng, {"Unzip {archive}", "Extract the zip file {archive} here"},
                     {{"{archive}", archive}}, absl::StrCat("unzip ", archive));
    case 2: {
      const Place dir = ObjectDir(rng);
      return Compose(rng, {"Unzip {archive} into {dir}", "Extract {archive} to {dir}"},
                     {{"{archive}", archive}, {"{dir}", dir.english}},
                     absl::StrCat("unzip ", archive, " -d ", dir.bash));
    }
    default:
      return Compose(rng,
                     {"List the files inside {archive} without extracting them",
                      "Show the contents of the zip file {archive}"},
                     {{"{archive}", archive}}, absl::StrCat("unzip -l ", archive));
  }
}

Example Gzip(SplitMix64& rng) {
  const std::string file = rng.ModuloPercent(50) ? LogFile(rng) : TextFile(rng);
  switch (rng.ModuloBelow(3)) {
    case 0:
      return Compose(rng, {"Compress {file} with gzip", "Gzip {file}, replacing it with {file}.gz"},
                     {{"{file}", file}}, absl::StrCat("gzip ", file));
    case 1:
      return Compose(rng,
                     {"Compress {file} with gzip but keep the original",
                      "Create {file}.gz without deleting {file}"},
                     {{"{file}", file}}, absl::StrCat("gzip -k ", file));
    default:
      return Compose(rng, {"Decompress {file}.gz", "Uncompress the gzip file {file}.gz"},
                     {{"{file}", file}}, absl::StrCat("gzip -d ", file, ".gz"));
  }
}

Example Copy(SplitMix64& rng) {
  switch (rng.ModuloBelow(4)) {
    case 0: {
      const std::string file = TextFile(rng);
      const Place dir = ObjectDir(rng);
      return Compose(rng, {"Copy {file} into {dir}", "Put a copy of {file} in {dir}"},
                     {{"{file}", file}, {"{dir}", dir.english}},
                     absl::StrCat("cp ", file, " ", dir.bash, "/"));
    }
    case 1: {
      const std::string file = TextFile(rng);
      return Compose(rng,
                     {"Back up {file} to {file}.bak",
                      "Make a backup copy of {file} called "
                      "{file}.bak"},
                     {{"{file}", file}}, absl::StrCat("cp ", file, " ", file, ".bak"));
    }
    case 2: {
      const Place source = ObjectDir(rng);
      Place target = ObjectDir(rng);
      while (target.bash == source.bash) target = ObjectDir(rng);
      return Compose(rng,
                     {"Copy the directory {src} and all its contents to {dst}",
                      "Recursively copy {src} to {dst}"},
                     {{"{src}", source.bash}, {"{dst}", target.bash}},
                     absl::StrCat("cp -r ", source.bash, " ", target.bash));
    }
    default: {
      const std::string file = TextFile(rng);
      const Place dir = ObjectDir(rng);
      return Compose(rng,
                     {"Copy {file} into {dir}, asking before overwriting anything",
                      "Interactively copy {file} to {dir} so nothing is overwritten by accident"},
                     {{"{file}", file}, {"{dir}", dir.english}},
                     absl::StrCat("cp -i ", file, " ", dir.bash, "/"));
    }
  }
}

Example Move(SplitMix64& rng) {
  const std::string file = TextFile(rng);
  switch (rng.ModuloBelow(3)) {
    case 0: {
      const std::string other = OtherTextFile(rng, file);
      return Compose(rng, {"Rename {file} to {other}", "Move {file} to {other}"},
                     {{"{file}", file}, {"{other}", other}}, absl::StrCat("mv ", file, " ", other));
    }
    case 1: {
      const Place dir = ObjectDir(rng);
      return Compose(rng, {"Move {file} into {dir}", "Relocate {file} to {dir}"},
                     {{"{file}", file}, {"{dir}", dir.english}},
                     absl::StrCat("mv ", file, " ", dir.bash, "/"));
    }
    default: {
      const Place dir = ObjectDir(rng);
      return Compose(rng,
                     {"Move {file} into {dir}, prompting before overwriting",
                      "Interactively move {file} to {dir}"},
                     {{"{file}", file}, {"{dir}", dir.english}},
                     absl::StrCat("mv -i ", file, " ", dir.bash, "/"));
    }
  }
}

Example Remove(SplitMix64& rng) {
  switch (rng.ModuloBelow(5)) {
    case 0: {
      const std::string file = TextFile(rng);
      return Compose(rng, {"Delete {file}", "Remove the file {file}"}, {{"{file}", file}},
                     absl::StrCat("rm ", file));
    }
    case 1: {
      const std::string file = TextFile(rng);
      return Compose(rng,
                     {"Force-delete {file} without any prompt",
                      "Remove {file}, ignoring it if it does not exist"},
                     {{"{file}", file}}, absl::StrCat("rm -f ", file));
    }
    case 2: {
      const std::string file = TextFile(rng);
      return Compose(rng,
                     {"Delete {file} after asking for confirmation", "Interactively remove {file}"},
                     {{"{file}", file}}, absl::StrCat("rm -i ", file));
    }
    case 3: {
      const Place dir = ObjectDir(rng);
      return Compose(rng, {"Delete {dir} and everything in it", "Recursively remove {dir}"},
                     {{"{dir}", dir.english}}, absl::StrCat("rm -r ", dir.bash));
    }
    default: {
      const Place dir = ObjectDir(rng);
      return Compose(rng,
                     {"Forcefully remove {dir} and all its contents without prompting",
                      "Recursively force-delete {dir}"},
                     {{"{dir}", dir.english}}, absl::StrCat("rm -rf ", dir.bash));
    }
  }
}

Example MakeDirectory(SplitMix64& rng) {
  const std::string path = NestedPath(rng);
  return Compose(
      rng,
      {"Create the directory {path}, including any missing parents",
       "Make the nested directories {path}", "Create {path} along with its parent directories"},
      {{"{path}", path}}, absl::StrCat("mkdir -p ", path));
}

Example SymbolicLink(SplitMix64& rng) {
  const LinkPair& link = rng.ModuloPick(kLinks);
  return Compose(rng,
                 {"Create a symbolic link named {link} pointing to {target}",
                  "Make a symlink {link} that points to {target}",
                  "Link {target} to {link} with a symbolic link"},
                 {{"{link}", link.link}, {"{target}", link.target}},
                 absl::StrCat("ln -s ", link.target, " ", link.link));
}

Example Touch(SplitMix64& rng) {
  const std::string file = TextFile(rng);
  return Compose(rng,
                 {"Create an empty file named {file}",
                  "Update the modification time of {file}, creating it if needed", "Touch {file}"},
                 {{"{file}", file}}, absl::StrCat("touch ", file));
}

Example Processes(SplitMix64& rng) {
  switch (rng.ModuloBelow(4)) {
    case 0:
      return Compose(rng,
                     {"List all running processes",
                      "Show every process on the system with its owner and resource usage",
                      "Display all processes for all users"},
                     {}, "ps aux");
    case 1: {
      const absl::string_view process = rng.ModuloPick(kProcesses);
      return Compose(rng,
                     {"Find running processes whose command line mentions {p}",
                      "Check whether {p} is running", "Show the processes matching {p}"},
                     {{"{p}", process}}, absl::StrCat("ps aux | grep ", process));
    }
    case 2: {
      const absl::string_view user = rng.ModuloPick(kUsers);
      return Compose(rng,
                     {"List the processes owned by {user}",
                      "Show all processes run by user "
                      "{user}"},
                     {{"{user}", user}}, absl::StrCat("ps -u ", user));
    }
    default: {
      const int n = rng.ModuloBetween(3, 10);
      // head shows the header line too, hence n + 1.
      return Compose(rng,
                     {"Show the {n} processes using the most memory",
                      "List the top {n} memory-consuming processes"},
                     {{"{n}", absl::StrCat(n)}},
                     absl::StrCat("ps aux --sort=-%mem | head -n ", n + 1));
    }
  }
}

Example Kill(SplitMix64& rng) {
  const int pid = rng.ModuloBetween(300, 65000);
  const std::string pid_text = absl::StrCat(pid);
  switch (rng.ModuloBelow(3)) {
    case 0:
      return Compose(rng,
                     {"Terminate the process with PID {pid}", "Send SIGTERM to process {pid}",
                      "Ask process {pid} to exit"},
                     {{"{pid}", pid_text}}, absl::StrCat("kill ", pid));
    case 1:
      return Compose(rng,
                     {"Forcefully kill process {pid}",
                      "Kill process {pid} immediately with "
                      "SIGKILL"},
                     {{"{pid}", pid_text}}, absl::StrCat("kill -9 ", pid));
    default: {
      const absl::string_view process = rng.ModuloPick(kProcesses);
      return Compose(rng, {"Kill all processes named {p}", "Terminate every running {p} process"},
                     {{"{p}", process}}, absl::StrCat("pkill ", process));
    }
  }
}

Example SedReplace(SplitMix64& rng) {
  const std::string file = TextFile(rng);
  const ReplacementPair& pair = rng.ModuloPick(kReplacements);
  const bool in_place = rng.ModuloPercent(60);
  if (in_place) {
    return Compose(rng,
                   {"Replace every occurrence of {a} with {b} in {file}, editing the file in "
                    "place",
                    "In {file}, change all {a} to {b} in place",
                    "Substitute {b} for every {a} directly in {file}"},
                   {{"{file}", file}, {"{a}", Quoted(pair.from)}, {"{b}", Quoted(pair.to)}},
                   absl::StrCat("sed -i 's/", pair.from, "/", pair.to, "/g' ", file));
  }
  return Compose(rng,
                 {"Print {file} with every {a} replaced by {b}, without modifying the file",
                  "Show {file} with {a} changed to {b} on output only"},
                 {{"{file}", file}, {"{a}", Quoted(pair.from)}, {"{b}", Quoted(pair.to)}},
                 absl::StrCat("sed 's/", pair.from, "/", pair.to, "/g' ", file));
}

Example SedLines(SplitMix64& rng) {
  const std::string file = TextFile(rng);
  switch (rng.ModuloBelow(4)) {
    case 0: {
      const int line = rng.ModuloBetween(1, 200);
      return Compose(rng, {"Print line {n} of {file}", "Show only line number {n} of {file}"},
                     {{"{file}", file}, {"{n}", absl::StrCat(line)}},
                     absl::StrCat("sed -n '", line, "p' ", file));
    }
    case 1: {
      const int first = rng.ModuloBetween(1, 100);
      const int last = first + rng.ModuloBetween(1, 50);
      return Compose(rng,
                     {"Print lines {a} through {b} of {file}", "Show lines {a} to {b} of {file}"},
                     {{"{file}", file}, {"{a}", absl::StrCat(first)}, {"{b}", absl::StrCat(last)}},
                     absl::StrCat("sed -n '", first, ",", last, "p' ", file));
    }
    case 2: {
      const std::string pattern = Pattern(rng);
      return Compose(rng,
                     {"Delete every line containing {pat} from {file} in place",
                      "Remove the lines that mention {pat} from {file}, editing it directly"},
                     {{"{file}", file}, {"{pat}", Quoted(pattern)}},
                     absl::StrCat("sed -i '/", pattern, "/d' ", file));
    }
    default:
      return Compose(rng,
                     {"Print {file} without its empty lines",
                      "Show {file} with blank lines "
                      "removed"},
                     {{"{file}", file}}, absl::StrCat("sed '/^$/d' ", file));
  }
}

Example AwkColumns(SplitMix64& rng) {
  switch (rng.ModuloBelow(5)) {
    case 0: {
      const std::string file = rng.ModuloPercent(50) ? LogFile(rng) : TextFile(rng);
      const int column = rng.ModuloBetween(1, 6);
      return Compose(
          rng,
          {"Print the {ord} column of {file}",
           "Print the {ord} whitespace-separated field of each line in {file}",
           "Extract column {col} from {file}"},
          {{"{file}", file}, {"{ord}", kOrdinals[column - 1]}, {"{col}", absl::StrCat(column)}},
          absl::StrCat("awk '{print $", column, "}' ", file));
    }
    case 1: {
      const std::string file = CsvFile(rng);
      const int column = rng.ModuloBetween(1, 6);
      return Compose(
          rng,
          {"Print the {ord} comma-separated column of {file}",
           "Use awk to show field {col} of every row in {file}"},
          {{"{file}", file}, {"{ord}", kOrdinals[column - 1]}, {"{col}", absl::StrCat(column)}},
          absl::StrCat("awk -F',' '{print $", column, "}' ", file));
    }
    case 2: {
      const PasswdField& field = rng.ModuloPick(kPasswdFields);
      return Compose(rng,
                     {"Print the {what} of every account in /etc/passwd",
                      "List the {what} of each user from /etc/passwd"},
                     {{"{what}", field.what}},
                     absl::StrCat("awk -F':' '{print $", field.column, "}' /etc/passwd"));
    }
    case 3: {
      const std::string file = TextFile(rng);
      const int column = rng.ModuloBetween(1, 6);
      return Compose(
          rng,
          {"Sum the numbers in the {ord} column of {file}",
           "Add up column {col} of {file} and print the total"},
          {{"{file}", file}, {"{ord}", kOrdinals[column - 1]}, {"{col}", absl::StrCat(column)}},
          absl::StrCat("awk '{sum += $", column, "} END {print sum}' ", file));
    }
    default: {
      const std::string file = TextFile(rng);
      const int length = rng.ModuloPick(kLineCounts) + 60;
      return Compose(rng,
                     {"Print the lines of {file} longer than {n} characters",
                      "Show every line in {file} with more than {n} characters"},
                     {{"{file}", file}, {"{n}", absl::StrCat(length)}},
                     absl::StrCat("awk 'length > ", length, "' ", file));
    }
  }
}

Example Cut(SplitMix64& rng) {
  switch (rng.ModuloBelow(3)) {
    case 0: {
      const std::string file = CsvFile(rng);
      const int column = rng.ModuloBetween(1, 6);
      return Compose(
          rng,
          {"Extract the {ord} comma-separated field from each line of {file}",
           "Cut out column {col} of {file}, using commas as the delimiter"},
          {{"{file}", file}, {"{ord}", kOrdinals[column - 1]}, {"{col}", absl::StrCat(column)}},
          absl::StrCat("cut -d',' -f", column, " ", file));
    }
    case 1: {
      const PasswdField& field = rng.ModuloPick(kPasswdFields);
      return Compose(rng,
                     {"Cut the {what} field out of /etc/passwd",
                      "Extract colon-separated field {col} ({what}) from /etc/passwd"},
                     {{"{what}", field.what}, {"{col}", absl::StrCat(field.column)}},
                     absl::StrCat("cut -d':' -f", field.column, " /etc/passwd"));
    }
    default: {
      const std::string file = TextFile(rng);
      const int width = rng.ModuloBetween(5, 80);
      return Compose(rng,
                     {"Print the first {n} characters of each line of {file}",
                      "Truncate every line of {file} to {n} characters on output"},
                     {{"{file}", file}, {"{n}", absl::StrCat(width)}},
                     absl::StrCat("cut -c1-", width, " ", file));
    }
  }
}

Example Uniq(SplitMix64& rng) {
  const std::string file = ListFile(rng);
  switch (rng.ModuloBelow(3)) {
    case 0:
      return Compose(rng,
                     {"Count how many times each distinct line occurs in {file}",
                      "Show every unique line of {file} with its number of occurrences"},
                     {{"{file}", file}}, absl::StrCat("sort ", file, " | uniq -c"));
    case 1:
      return Compose(rng,
                     {"Show only the lines that appear more than once in {file}",
                      "Print the duplicated lines of {file}"},
                     {{"{file}", file}}, absl::StrCat("sort ", file, " | uniq -d"));
    default: {
      const int n = rng.ModuloBetween(3, 20);
      return Compose(rng,
                     {"Show the {n} most frequent lines in {file} with their counts",
                      "Which {n} lines occur most often in {file}?",
                      "List the top {n} most common lines of {file}"},
                     {{"{file}", file}, {"{n}", absl::StrCat(n)}},
                     absl::StrCat("cat ", file, " | sort | uniq -c | sort -nr | head -n ", n));
    }
  }
}

Example ColumnFrequency(SplitMix64& rng) {
  const int n = rng.ModuloBetween(3, 20);
  if (rng.ModuloPercent(50)) {
    const std::string file = LogFile(rng);
    const int column = rng.ModuloBetween(1, 6);
    return Compose(rng,
                   {"Show the {n} most frequent values in the {ord} column of {file}",
                    "Which {n} values of field {col} occur most often in {file}?"},
                   {{"{file}", file},
                    {"{ord}", kOrdinals[column - 1]},
                    {"{col}", absl::StrCat(column)},
                    {"{n}", absl::StrCat(n)}},
                   absl::StrCat("awk '{print $", column, "}' ", file,
                                " | sort | uniq -c | sort -nr | head -n ", n));
  }
  const std::string file = CsvFile(rng);
  const int column = rng.ModuloBetween(1, 6);
  return Compose(
      rng,
      {"List the distinct values in the {ord} column of {file}",
       "Print each different value of comma-separated field {col} in {file} once, "
       "sorted"},
      {{"{file}", file}, {"{ord}", kOrdinals[column - 1]}, {"{col}", absl::StrCat(column)}},
      absl::StrCat("cut -d',' -f", column, " ", file, " | sort -u"));
}

Example Cat(SplitMix64& rng) {
  const std::string file = TextFile(rng);
  switch (rng.ModuloBelow(3)) {
    case 0:
      return Compose(rng,
                     {"Print the contents of {file}", "Display {file}", "Show what is in {file}"},
                     {{"{file}", file}}, absl::StrCat("cat ", file));
    case 1:
      return Compose(rng,
                     {"Print {file} with line numbers",
                      "Show {file} with every line "
                      "numbered"},
                     {{"{file}", file}}, absl::StrCat("cat -n ", file));
    default: {
      const std::string second = OtherTextFile(rng, file);
      std::string combined = OtherTextFile(rng, file);
      while (combined == second) combined = OtherTextFile(rng, file);
      return Compose(
          rng, {"Concatenate {a} and {b} into {c}", "Join {a} and {b} and save the result as {c}"},
          {{"{a}", file}, {"{b}", second}, {"{c}", combined}},
          absl::StrCat("cat ", file, " ", second, " > ", combined));
    }
  }
}

Example Echo(SplitMix64& rng) {
  const std::string file = TextFile(rng);
  const absl::string_view text = rng.ModuloPick(kEchoTexts);
  if (rng.ModuloPercent(50)) {
    return Compose(rng,
                   {"Write the line {text} to {file}, overwriting it",
                    "Replace the contents of {file} with {text}"},
                   {{"{file}", file}, {"{text}", Quoted(text)}},
                   absl::StrCat("echo '", text, "' > ", file));
  }
  return Compose(rng,
                 {"Append the line {text} to {file}",
                  "Add {text} as a new line at the end of "
                  "{file}"},
                 {{"{file}", file}, {"{text}", Quoted(text)}},
                 absl::StrCat("echo '", text, "' >> ", file));
}

Example Diff(SplitMix64& rng) {
  switch (rng.ModuloBelow(3)) {
    case 0: {
      const std::string file = TextFile(rng);
      const std::string other =
          rng.ModuloPercent(40) ? absl::StrCat(file, ".orig") : OtherTextFile(rng, file);
      return Compose(rng,
                     {"Compare {a} and {b} line by line",
                      "Show the differences between {a} "
                      "and {b}"},
                     {{"{a}", file}, {"{b}", other}}, absl::StrCat("diff ", file, " ", other));
    }
    case 1: {
      const std::string file = TextFile(rng);
      const std::string other =
          rng.ModuloPercent(40) ? absl::StrCat(file, ".orig") : OtherTextFile(rng, file);
      return Compose(rng,
                     {"Show a unified diff between {a} and {b}",
                      "Print the changes from {a} to {b} in unified format"},
                     {{"{a}", file}, {"{b}", other}}, absl::StrCat("diff -u ", file, " ", other));
    }
    default: {
      const Place first = ObjectDir(rng);
      Place second = ObjectDir(rng);
      while (second.bash == first.bash) second = ObjectDir(rng);
      return Compose(rng,
                     {"Recursively compare the directories {a} and {b}",
                      "Show all differences between the trees {a} and {b}"},
                     {{"{a}", first.bash}, {"{b}", second.bash}},
                     absl::StrCat("diff -r ", first.bash, " ", second.bash));
    }
  }
}

using ShapeFunction = Example (*)(SplitMix64&);

struct Shape {
  ShapeFunction make;
  int weight;  // relative frequency; shapes with more variants get more weight
};

constexpr Shape kShapes[] = {
    {FindByExtension, 4},
    {FindByExactName, 2},
    {FindCaseInsensitive, 1},
    {FindDirectories, 1},
    {FindRecentlyModified, 3},
    {FindOld, 2},
    {FindLarge, 3},
    {FindLargeDetailed, 1},
    {FindDeleteByExtension, 2},
    {FindDeleteOld, 2},
    {FindChmodByExtension, 1},
    {FindTopLevelFiles, 1},
    {FindWithMaxDepth, 1},
    {FindEmpty, 1},
    {FindByExtensionAndAge, 2},
    {FindByOwner, 1},
    {FindXargsGrep, 3},
    {FindXargsWc, 1},
    {FindCount, 2},
    {GrepFile, 4},
    {GrepIgnoreCase, 2},
    {GrepLineNumbers, 2},
    {GrepRecursive, 3},
    {GrepRecursiveIgnoreCase, 1},
    {GrepFilesWithMatches, 2},
    {GrepInvert, 2},
    {GrepCount, 2},
    {GrepAlternatives, 2},
    {GrepWholeWord, 2},
    {GrepIncludeExtension, 2},
    {GrepHeadTail, 2},
    {ListPlain, 1},
    {ListVariant, 5},
    {ListNewest, 1},
    {ListCountEntries, 1},
    {ListSubdirectoriesLong, 1},
    {WordCount, 4},
    {SortVariant, 5},
    {SortCsvColumn, 2},
    {HeadTail, 5},
    {DiskUsage, 4},
    {DiskFree, 1},
    {ChmodNumeric, 3},
    {ChmodSymbolic, 3},
    {ChmodRecursive, 2},
    {Chown, 3},
    {Tar, 4},
    {Zip, 3},
    {Gzip, 2},
    {Copy, 4},
    {Move, 3},
    {Remove, 4},
    {MakeDirectory, 2},
    {SymbolicLink, 1},
    {Touch, 2},
    {Processes, 3},
    {Kill, 2},
    {SedReplace, 3},
    {SedLines, 3},
    {AwkColumns, 4},
    {Cut, 3},
    {Uniq, 3},
    {ColumnFrequency, 2},
    {Cat, 3},
    {Echo, 2},
    {Diff, 3},
};

constexpr int TotalWeight() {
  int total = 0;
  for (const Shape& shape : kShapes) total += shape.weight;
  return total;
}

Example DrawExample(SplitMix64& rng) {
  int ticket = static_cast<int>(rng.ModuloBelow(TotalWeight()));
  for (const Shape& shape : kShapes) {
    if (ticket < shape.weight) return shape.make(rng);
    ticket -= shape.weight;
  }
  return kShapes[0].make(rng);  // unreachable: the tickets cover the total weight
}

}  // namespace

std::vector<Example> GenerateSyntheticBash(uint64_t seed, size_t count) {
  SplitMix64 rng(seed);
  std::vector<Example> examples;
  examples.reserve(count);
  for (size_t i = 0; i < count; ++i) examples.push_back(DrawExample(rng));
  return examples;
}

SyntheticBashSplits MakeSyntheticBashTask(uint64_t seed, size_t train, size_t validation,
                                          size_t pool) {
  SyntheticBashSplits splits;
  splits.validation.reserve(validation);
  splits.pool.reserve(pool);
  splits.train.reserve(train);
  const size_t wanted = train + validation + pool;
  // Far more draws than any realistic request needs; the cap only guarantees termination if a
  // caller asks for more distinct queries than the distribution can produce.
  const size_t max_draws = 20 * wanted + 10000;

  SplitMix64 rng(seed);
  std::unordered_set<std::string> seen_queries;
  size_t filled = 0;
  for (size_t draw = 0; draw < max_draws && filled < wanted; ++draw) {
    Example example = DrawExample(rng);
    if (!seen_queries.insert(example.query).second) continue;
    if (splits.validation.size() < validation) {
      splits.validation.push_back(std::move(example));
    } else if (splits.pool.size() < pool) {
      splits.pool.push_back(std::move(example));
    } else {
      splits.train.push_back(std::move(example));
    }
    ++filled;
  }
  return splits;
}

}  // namespace promptintern
