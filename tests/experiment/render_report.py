#!/usr/bin/env python3
"""Renders an experiment report (Markdown) in Debian's headless Chromium and prints, as JSON, what
the browser saw: the number of tables, and for every image whether it loaded (decoded by the browser
from its relative link) and, parsed from the same file by the browser's SVG parser, each plotted
series (data-series) with its number of points (g.point).

  render_report.py REPORT.md
Exit status 77 when Chromium is missing or cannot start here (the calling test skips).
The Markdown is converted by python3-markdown (the 'tables' extension, as GitHub renders tables)."""
import html
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

import markdown

SKIP = 77
CHECK = """
<script>
window.addEventListener('load', () => {
  const images = [];
  for (const img of document.images) {
    const entry = {src: img.getAttribute('src'), loaded: img.complete && img.naturalWidth > 0,
                   width: img.naturalWidth, height: img.naturalHeight};
    const request = new XMLHttpRequest();
    try {
      request.open('GET', img.src, false);
      request.send();
      const svg = new DOMParser().parseFromString(request.responseText, 'image/svg+xml');
      entry.parse_error = svg.getElementsByTagName('parsererror').length > 0;
      entry.title = svg.querySelector('title') ? svg.querySelector('title').textContent : '';
      entry.series = Array.from(svg.querySelectorAll('g.series')).map(g => ({
        name: g.getAttribute('data-series'),
        points: g.querySelectorAll('g.point').length,
        error_bars: g.querySelectorAll('.error-bar').length}));
    } catch (error) {
      entry.error = String(error);
    }
    images.push(entry);
  }
  const result = {tables: document.querySelectorAll('table').length, images: images};
  const pre = document.createElement('pre');
  pre.id = 'render-result';
  pre.textContent = JSON.stringify(result);
  document.body.appendChild(pre);
});
</script>
"""


def main():
    report = pathlib.Path(sys.argv[1]).resolve()
    chromium = shutil.which("chromium")
    if chromium is None:
        print("chromium is not installed (scripts/install-deps.sh installs it)", file=sys.stderr)
        return SKIP
    body = markdown.markdown(report.read_text(encoding="utf-8"), extensions=["tables"])
    # Beside the report, so that its relative image links resolve as they do on GitHub.
    page = report.with_name(report.stem + ".render.html")
    page.write_text("<!DOCTYPE html><html><head><meta charset='utf-8'><title>report</title></head><body>"
                    + body + CHECK + "</body></html>", encoding="utf-8")
    with tempfile.TemporaryDirectory() as profile:
        command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                   "--no-first-run", "--allow-file-access-from-files", f"--user-data-dir={profile}",
                   "--virtual-time-budget=10000", "--dump-dom", page.as_uri()]
        try:
            run = subprocess.run(command, capture_output=True, text=True, timeout=180)
        except (OSError, subprocess.TimeoutExpired) as error:
            print(f"chromium could not run here: {error}", file=sys.stderr)
            return SKIP
    found = re.search(r'<pre id="render-result">(.*?)</pre>', run.stdout, re.S)
    if run.returncode != 0:
        print(f"chromium could not start here (exit {run.returncode}): {run.stderr[-2000:]}", file=sys.stderr)
        return SKIP
    if found is None:  # the browser ran but the page's check did not: a broken page
        print(f"the rendered page has no result: {run.stdout[-2000:]}", file=sys.stderr)
        return 1
    print(html.unescape(found.group(1)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
