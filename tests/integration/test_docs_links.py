"""The documentation stands on its own (docs/, the READMEs): every relative
link of every Markdown file in the repository resolves to a file in it (and,
for `file.md#anchor`, to a heading of that file), and no file points outside
the repository at the steering directory the project started from."""
import os
import re
import subprocess

from conftest import SOURCE_DIR

LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")
# Built so that this file does not match itself.
OUTSIDE = ("..", "/shared", "/work" + "/shared")


def repo_files():
    """Tracked files (and new ones not ignored) when git is there, else a walk."""
    try:
        out = subprocess.run(["git", "-C", SOURCE_DIR, "ls-files", "-co", "--exclude-standard"],
                             capture_output=True, text=True, timeout=60, check=True)
        files = [f for f in out.stdout.splitlines() if f]
    except (OSError, subprocess.SubprocessError):
        files = []
        for root, dirs, names in os.walk(SOURCE_DIR):
            dirs[:] = [d for d in dirs if not d.startswith((".", "build"))]
            files += [os.path.relpath(os.path.join(root, n), SOURCE_DIR) for n in names]
    return [f for f in files if os.path.isfile(os.path.join(SOURCE_DIR, f))
            and not f.startswith(("build", "data/"))]


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"`|\*|_{2,}", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def markdown_lines(path):
    """The lines outside fenced code blocks, with inline code removed."""
    fenced = False
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if FENCE.match(line):
                fenced = not fenced
                continue
            if not fenced:
                yield n, re.sub(r"`[^`]*`", "", line)


def anchors(path):
    found, seen = set(), {}
    for _, line in markdown_lines(path):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            s = slug(m.group(1))
            k = seen.get(s, 0)
            seen[s] = k + 1
            found.add(s if k == 0 else f"{s}-{k}")
    return found


def test_every_relative_markdown_link_resolves():
    files = [f for f in repo_files() if f.endswith(".md")]
    assert "README.md" in files and "docs/protocol.md" in files, files
    broken, checked = [], 0
    for rel in files:
        path = os.path.join(SOURCE_DIR, rel)
        for n, line in markdown_lines(path):
            for target in LINK.findall(line):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                    continue
                checked += 1
                file_part, _, anchor = target.partition("#")
                dest = (os.path.normpath(os.path.join(os.path.dirname(path), file_part))
                        if file_part else path)
                where = f"{rel}:{n}: {target}"
                if not dest.startswith(SOURCE_DIR + os.sep) and dest != SOURCE_DIR:
                    broken.append(where + " (outside the repository)")
                elif not os.path.exists(dest):
                    broken.append(where + " (no such file)")
                elif anchor and dest.endswith(".md") and anchor not in anchors(dest):
                    broken.append(where + " (no such heading)")
    assert checked > 50, checked  # the scan found the links
    assert not broken, "\n".join(broken)


def test_nothing_points_at_the_steering_directory():
    bad = []
    needle = re.compile(re.escape(OUTSIDE[0] + OUTSIDE[1]) + "|" + re.escape(OUTSIDE[2]))
    for rel in repo_files():
        path = os.path.join(SOURCE_DIR, rel)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (UnicodeDecodeError, OSError):
            continue  # binary files: pictures
        for n, line in enumerate(text.splitlines(), 1):
            if needle.search(line):
                bad.append(f"{rel}:{n}: {line.strip()}")
    assert not bad, "\n".join(bad)


def test_the_header_points_into_docs():
    with open(os.path.join(SOURCE_DIR, "include", "switchboard", "plugin.h")) as f:
        header = f.read()
    assert "PROTOCOL.md" not in header
    for m in re.finditer(r"docs/([a-z-]+\.md)", header):
        assert os.path.exists(os.path.join(SOURCE_DIR, "docs", m.group(1))), m.group(0)


def test_install_ships_docs_man_page_and_demo(tmp_path):
    from conftest import BUILD_DIR
    out = subprocess.run(["cmake", "--install", BUILD_DIR, "--prefix", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    for rel in ("share/man/man8/switchboard.8", "share/doc/switchboard/protocol.md",
                "share/doc/switchboard/plugin-sdk.md", "share/doc/switchboard/configuration.md",
                "share/doc/switchboard/operations.md", "share/doc/switchboard/design.md",
                "share/doc/switchboard/img/architecture.png", "share/doc/switchboard/README.md",
                "share/switchboard/web/index.html", "share/switchboard/web/app.js"):
        assert (tmp_path / rel).is_file(), rel
    assert not (tmp_path / "share/doc/switchboard/switchboard.8").exists()
    # The man page is well-formed roff (groff comes with man-db where man is installed).
    groff = subprocess.run(["sh", "-c", "command -v groff"], capture_output=True, text=True)
    if groff.returncode == 0:
        page = subprocess.run(["groff", "-man", "-Tutf8", "-ww",
                               str(tmp_path / "share/man/man8/switchboard.8")],
                              capture_output=True, text=True, timeout=60)
        plain = re.sub(r".\x08", "", page.stdout)  # overstrike bold and underline
        assert page.returncode == 0 and "SYNOPSIS" in plain and "SIGHUP" in plain, page.stderr
        assert not page.stderr.strip(), page.stderr


def test_pictures_regenerate_from_their_sources(tmp_path):
    """docs/img/architecture.png comes from docs/architecture.dot, docs/img/bench.png from
    tests/bench/peers.tsv: both scripts run (graphviz and gnuplot come with scripts/deps)."""
    import shutil
    import pytest
    if not shutil.which("dot") or not shutil.which("gnuplot"):
        pytest.skip("graphviz or gnuplot missing (scripts/deps installs them)")
    png = tmp_path / "bench.png"
    out = subprocess.run([os.path.join(SOURCE_DIR, "scripts", "bench-chart"),
                          os.path.join(SOURCE_DIR, "tests", "bench", "peers.tsv"), str(png)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    arch = tmp_path / "arch.png"
    out = subprocess.run(["dot", "-Tpng", os.path.join(SOURCE_DIR, "docs", "architecture.dot"),
                          "-o", str(arch)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert arch.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
