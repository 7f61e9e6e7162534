"""Index pages parsed (sysnative.index.pages), parsed pages on disk (index.pagecache), the cache."""

from __future__ import annotations

import hashlib
import json
from dataclasses import astuple
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

import pytest
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from sysnative.cache import Cache, CachedPage
from sysnative.errors import IndexFailure
from sysnative.index.pagecache import parse_page_cached
from sysnative.index.pages import (
    _resolve_href,
    clear_parse_caches,
    make_index_file,
    parse_html_page,
    parse_json_page,
    parse_page,
    parse_requires_python,
)
from sysnative.index.urls import redact_url
from sysnative.models import FileKind, IndexFile

PAGE = "http://127.0.0.1:1/simple/demo/"
DEMO = canonicalize_name("demo")
OTHER = canonicalize_name("other")
SHA = "a" * 64


def test_html_page_attributes() -> None:
    html = f"""<!DOCTYPE html><html><body>
    <a href="../../files/demo-1.0-py3-none-any.whl#sha256={SHA}"
       data-requires-python="&gt;=3.8,&lt;4"
       data-core-metadata="sha256={"b" * 64}">demo-1.0-py3-none-any.whl</a>
    <a href="/other/demo-1.1.tar.gz#md5=abc" data-yanked="">demo-1.1.tar.gz</a>
    <a href="https://127.0.0.1:2/demo-1.2-py3-none-any.whl" data-yanked
       data-dist-info-metadata="true">x</a>
    <a href="demo-1.3-py3-none-any.whl" data-yanked="bad &amp; broken"
       data-core-metadata="true" data-dist-info-metadata="sha256={"c" * 64}">y</a>
    </body></html>"""

    files = {str(f.version): f for f in parse_html_page(html, PAGE, DEMO)}

    first = files["1.0"]
    assert first.url == "http://127.0.0.1:1/files/demo-1.0-py3-none-any.whl"
    assert first.sha256 == SHA
    assert first.requires_python == SpecifierSet(">=3.8,<4")
    assert first.metadata_advertised
    assert first.metadata_sha256 == "b" * 64
    assert first.yanked is None
    assert files["1.1"].kind is FileKind.SDIST
    assert files["1.1"].url == "http://127.0.0.1:1/other/demo-1.1.tar.gz"
    assert files["1.1"].sha256 is None
    assert files["1.1"].yanked == ""
    assert files["1.2"].yanked == ""
    assert files["1.2"].metadata_advertised
    assert files["1.2"].metadata_sha256 is None
    assert files["1.3"].url == PAGE + "demo-1.3-py3-none-any.whl"
    assert files["1.3"].yanked == "bad & broken"
    # PEP 714: data-core-metadata wins over the older name.
    assert files["1.3"].metadata_sha256 is None


def test_html_page_skips_other_formats_and_projects() -> None:
    names = [
        "demo-1.0.egg",
        "demo-1.0.win32.exe",
        "demo-1.0.tar.bz2",
        "demo-latest-and-greatest.tar.gz",
        "demo-1.0-py3-none-any.whl.metadata",
        "other-1.0-py3-none-any.whl",
        "demo-2.0-cp311-cp311-manylinux_2_17_x86_64.whl",
        "demo-2.0.zip",
    ]
    html = "".join(f'<a href="{n}">{n}</a>' for n in names) + "<a>no href</a>"

    files = parse_html_page(html, PAGE, DEMO)

    assert [f.filename for f in files] == [
        "demo-2.0-cp311-cp311-manylinux_2_17_x86_64.whl",
        "demo-2.0.zip",
    ]
    assert not files[0].is_pure


def test_html_page_without_project_filter_and_base_tag() -> None:
    html = (
        '<base href="http://127.0.0.1:3/pkgs/">'
        '<a href="a-1.0.tar.gz">a</a><a href="b-2.0.zip">b</a>'
    )

    files = parse_html_page(html.encode(), "http://127.0.0.1:1/links.html")

    assert [(f.project, f.url) for f in files] == [
        ("a", "http://127.0.0.1:3/pkgs/a-1.0.tar.gz"),
        ("b", "http://127.0.0.1:3/pkgs/b-2.0.zip"),
    ]


def test_html_tokenizer_quotes_case_order_and_newlines() -> None:
    html = f"""<HTML><BODY>
    <A HREF='demo-1.0-py3-none-any.whl#SHA256={SHA}' DATA-REQUIRES-PYTHON='>=3.8'>one</A>
    <a data-yanked data-core-metadata=true href=demo-1.1.tar.gz>two</a>
    <a
       data-requires-python="&gt;=3.9"
       href="https://127.0.0.1:2/x/demo-1.2.tar.gz?a=1&amp;b=2#sha256={SHA}"
    >three</a>
    <a href = "demo-1.3.tar.gz" data-yanked = "it's &quot;bad&quot; &amp; old"/>
    <abbr href="demo-9.0.tar.gz">not a link</abbr><area href="demo-9.1.tar.gz">
    </BODY></HTML>"""

    files = {str(f.version): f for f in parse_html_page(html, PAGE, DEMO)}

    assert sorted(files) == ["1.0", "1.1", "1.2", "1.3"]
    assert files["1.0"].url == PAGE + "demo-1.0-py3-none-any.whl"
    assert files["1.0"].sha256 == SHA
    # A raw ">" inside a quoted value does not end the tag.
    assert files["1.0"].requires_python == SpecifierSet(">=3.8")
    assert files["1.1"].url == PAGE + "demo-1.1.tar.gz"
    assert files["1.1"].yanked == ""
    assert files["1.1"].metadata_advertised
    assert files["1.2"].url == "https://127.0.0.1:2/x/demo-1.2.tar.gz?a=1&b=2"
    assert files["1.2"].sha256 == SHA
    assert files["1.2"].requires_python == SpecifierSet(">=3.9")
    assert files["1.3"].yanked == 'it\'s "bad" & old'
    assert files["1.3"].url == PAGE + "demo-1.3.tar.gz"


def test_html_tokenizer_skips_comments_and_scripts() -> None:
    html = (
        '<!-- <a href="demo-1.0.tar.gz">old</a> -->'
        "<script>var s = '<a href=\"demo-1.1.tar.gz\">';</script>"
        "<STYLE>a { content: '<a href=demo-1.2.tar.gz>' }</STYLE>"
        '<a href="demo-2.0.tar.gz">new</a>'
    )

    assert [str(f.version) for f in parse_html_page(html, PAGE, DEMO)] == ["2.0"]


def test_html_tokenizer_stops_at_unterminated_tag() -> None:
    """Its speed (linear, not a rescan from every ``<a``) is in benchmarks/micro.py."""
    html = '<a href="demo-1.0.tar.gz">x</a><a href="demo-2.0.tar.gz' + ' <a x="y"' * 20_000

    files = parse_html_page(html, PAGE, DEMO)

    assert [str(f.version) for f in files] == ["1.0"]


def test_html_base_element() -> None:
    html = (
        '<a href="demo-1.0.tar.gz">before the base</a>'
        "<BASE HREF='../../mirror/?x=1&amp;y=2'>"
        '<base href="http://127.0.0.1:9/ignored/">'
        '<a href="demo-1.1.tar.gz">after</a>'
    )

    files = parse_html_page(html, PAGE, DEMO)

    # The first <base> counts, for every link, and is itself relative to the page.
    assert [f.url for f in files] == [
        "http://127.0.0.1:1/mirror/demo-1.0.tar.gz",
        "http://127.0.0.1:1/mirror/demo-1.1.tar.gz",
    ]


def test_html_duplicate_and_empty_attributes() -> None:
    html = (
        '<a href="" data-yanked="x">empty href</a>'
        '<a href="demo-1.0.tar.gz" href="demo-1.1.tar.gz" data-yanked="a" data-yanked="">d</a>'
        '<a href="  demo-1.2.tar.gz  " data-requires-python="">spaces</a>'
    )

    files = parse_html_page(html, PAGE, DEMO)

    # As with html.parser feeding a dict: the last duplicate wins.
    assert [(str(f.version), f.yanked, f.requires_python) for f in files] == [
        ("1.1", "", None),
        ("1.2", None, None),
    ]


@pytest.mark.parametrize(
    "href",
    [
        f"https://127.0.0.1:2/p/demo-1.0.tar.gz#sha256={SHA}",
        "https://127.0.0.1:2/p/demo%2B1.0.tar.gz",
        "http://u:p@127.0.0.1:2/p/demo-1.0.tar.gz#",
        "https://127.0.0.1:2/p/demo-1.0.tar.gz#a#b",
        "HTTPS://127.0.0.1:2/p/demo-1.0.tar.gz",
        "https://127.0.0.1:2/p/demo-1.0.tar.gz?#frag",
        "https://127.0.0.1:2/p/demo-1.0.tar.gz;params",
        "https://127.0.0.1:2",
        "https://[::1]:2/p/demo-1.0.tar.gz",
        "https://127.0.0.1:2/a/../p/./demo-1.0.tar.gz",
        "https://127.0.0.1:2/p/de\tmo-1.0.tar.gz",
        "ftp://127.0.0.1/p/demo-1.0.tar.gz",
        "//127.0.0.1:5/p/demo-1.0.tar.gz",
        "../../files/demo-1.0.tar.gz#md5=x",
        "/abs/demo-1.0.tar.gz",
        "file:///srv/demo-1.0.tar.gz",
    ],
)
@pytest.mark.parametrize("base", [PAGE, "https://127.0.0.1:1/simple/demo/", "file:///srv/s/"])
def test_resolve_href_matches_urljoin(base: str, href: str) -> None:
    url, fragment = urldefrag(urljoin(base, href))
    expected = (url, fragment, unquote(urlsplit(url).path.rsplit("/", 1)[-1]))

    assert _resolve_href(base, href) == expected


def test_requires_python_and_file_names_are_memoized() -> None:
    clear_parse_caches()
    first = parse_requires_python(">=3.8")
    assert first is parse_requires_python(">=3.8")
    assert first == SpecifierSet(">=3.8")
    for _ in range(2):
        assert parse_requires_python(">=3.6.*junk") is None
        assert parse_requires_python("  ") is None
        assert make_index_file("demo-1.0.egg", PAGE) is None
        wheel = make_index_file("demo-1.0-py3-none-any.whl", PAGE, project=DEMO)
        assert wheel is not None
        assert wheel.is_pure
        assert make_index_file("demo-1.0-py3-none-any.whl", PAGE, project=OTHER) is None
    clear_parse_caches()


def test_json_page() -> None:
    page = {
        "meta": {"api-version": "1.1"},
        "name": "demo",
        "files": [
            {
                "filename": "demo-1.0-py3-none-any.whl",
                "url": "../../files/demo-1.0-py3-none-any.whl",
                "hashes": {"sha256": SHA.upper()},
                "requires-python": ">=3.9",
                "yanked": "security",
                "core-metadata": {"sha256": "d" * 64},
                "size": 123,
            },
            {
                "filename": "demo-1.1.tar.gz",
                "url": "https://127.0.0.1:2/demo-1.1.tar.gz#sha256=" + SHA,
                "hashes": {},
                "yanked": True,
                "dist-info-metadata": True,
            },
            {
                "filename": "demo-1.2-py3-none-any.whl",
                "url": "x.whl",
                "hashes": {},
                "yanked": False,
            },
            {"filename": "demo.egg", "url": "demo.egg", "hashes": {}},
            "not an object",
        ],
    }

    files = parse_json_page(json.dumps(page).encode(), PAGE, DEMO)

    assert [str(f.version) for f in files] == ["1.0", "1.1", "1.2"]
    first, second, third = files
    assert first.url == "http://127.0.0.1:1/files/demo-1.0-py3-none-any.whl"
    assert first.sha256 == SHA
    assert first.requires_python == SpecifierSet(">=3.9")
    assert first.yanked == "security"
    assert first.metadata_sha256 == "d" * 64
    assert first.size == 123
    assert second.url == "https://127.0.0.1:2/demo-1.1.tar.gz"
    assert second.yanked == ""
    assert second.metadata_advertised
    assert second.sha256 is None
    assert third.yanked is None
    assert not third.metadata_advertised


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"files": 3}'])
def test_json_page_malformed(body: bytes) -> None:
    with pytest.raises(IndexFailure, match="PEP 691"):
        parse_json_page(body, PAGE, DEMO)


def test_parse_page_dispatches_on_content_type() -> None:
    json_body = json.dumps({"files": [{"filename": "demo-1.0.tar.gz", "url": "d.tgz"}]})
    html_body = '<a href="demo-2.0.tar.gz">x</a>'.encode("latin-1")

    from_json = parse_page(json_body.encode(), "application/vnd.pypi.simple.v1+json", PAGE, DEMO)
    from_html = parse_page(html_body, "text/html; charset=ISO-8859-1", PAGE, DEMO)

    assert [str(f.version) for f in from_json] == ["1.0"]
    assert [str(f.version) for f in from_html] == ["2.0"]


def test_invalid_requires_python_is_ignored() -> None:
    found = make_index_file("demo-1.0.tar.gz", PAGE, requires_python=">=3.6.*junk")
    assert found is not None
    assert found.requires_python is None


def test_redact_url() -> None:
    assert redact_url("http://u:p@127.0.0.1:1/simple") == "http://u:****@127.0.0.1:1/simple"
    assert redact_url("http://token@127.0.0.1/x") == "http://token@127.0.0.1/x"
    assert redact_url("http://127.0.0.1/x") == "http://127.0.0.1/x"


# -- cache -------------------------------------------------------------------------------------


def test_cache_blob_round_trip_and_corruption(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.put_blob("metadata", "sha256:abc", b"data")
    assert cache.get_blob("metadata", "sha256:abc") == b"data"
    assert cache.get_blob("metadata", "sha256:other") is None

    (entry,) = (p for p in tmp_path.rglob("*") if p.is_file())
    entry.write_bytes(entry.read_bytes() + b"tail")
    assert cache.get_blob("metadata", "sha256:abc") is None
    assert not list(tmp_path.rglob(".tmp-*"))


def test_cache_page_round_trip_ttl_and_corruption(tmp_path: Path) -> None:
    cache = Cache(tmp_path, page_ttl=600)
    page = CachedPage(PAGE, 200, "text/html", b"<a>\n</a>", fetched_at=1000.0, etag='"x"')
    cache.put_page(page)

    loaded = cache.get_page(PAGE)
    assert loaded == page
    assert loaded.is_fresh(600, now=1599.0)
    assert not loaded.is_fresh(600, now=1600.0)
    assert loaded.revalidated(now=2000.0).is_fresh(600, now=2001.0)

    (entry,) = (p for p in tmp_path.rglob("*") if p.is_file())
    entry.write_bytes(b"\x00\xffgarbage")
    assert cache.get_page(PAGE) is None
    entry.write_bytes(b"")
    assert cache.get_page(PAGE) is None


def test_cache_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SYSNATIVE_CACHE_DIR", str(tmp_path / "c"))
    assert Cache().root == tmp_path / "c"


# -- parsed pages on disk -----------------------------------------------------------------------

CACHED_HTML = f"""<a href="https://127.0.0.1:2/demo-1.0-cp311-cp311-manylinux_2_17_x86_64.\
manylinux2014_x86_64.whl#sha256={SHA.upper()}" data-requires-python="&gt;=3.8, &lt;4"
data-core-metadata="sha256={"b" * 64}" data-yanked="reason">w</a>
<a href="../../files/Demo-1.0.post0.tar.gz" data-dist-info-metadata>s</a>
<a href="other-2.0-py2.py3-none-any.whl">o</a>""".encode()


def _snapshot(files: tuple[IndexFile, ...]) -> list[tuple[object, ...]]:
    """Every field, and the text forms that equality would not compare."""
    return [(*astuple(f), str(f.version), str(f.requires_python)) for f in files]


@pytest.mark.parametrize("project", [DEMO, None])
def test_parsed_page_cache_round_trip(tmp_path: Path, project: str | None) -> None:
    cache = Cache(tmp_path)
    name = canonicalize_name(project) if project else None
    fresh = parse_page(CACHED_HTML, "text/html", PAGE, name)

    first = parse_page_cached(cache, CACHED_HTML, "text/html", PAGE, name)
    clear_parse_caches()
    second = parse_page_cached(cache, CACHED_HTML, "text/html", PAGE, name)

    assert len(list(tmp_path.rglob("*/*/*"))) == 1
    assert first == second == fresh
    assert _snapshot(second) == _snapshot(fresh)
    assert len(fresh) == (2 if project else 3)


def test_parsed_page_cache_json_page(tmp_path: Path) -> None:
    body = json.dumps(
        {"files": [{"filename": "demo-1.0.tar.gz", "url": "d.tgz", "size": 7, "yanked": True}]}
    ).encode()
    cache = Cache(tmp_path)
    media = "application/vnd.pypi.simple.v1+json"

    parse_page_cached(cache, body, media, PAGE, DEMO)
    (cached,) = parse_page_cached(cache, body, media, PAGE, DEMO)

    assert (cached.size, cached.yanked, cached.url) == (7, "", PAGE + "d.tgz")


def test_parsed_page_cache_follows_page_changes(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    parse_page_cached(cache, CACHED_HTML, "text/html", PAGE, DEMO)

    changed = CACHED_HTML + b'<a href="demo-3.0.tar.gz">new</a>'
    files = parse_page_cached(cache, changed, "text/html", PAGE, DEMO)
    assert [str(f.version) for f in files] == ["1.0", "1.0.post0", "3.0"]
    # Another base URL resolves relative links differently: not the same entry.
    moved = parse_page_cached(cache, changed, "text/html", "http://127.0.0.1:7/s/demo/", DEMO)
    assert moved[-1].url == "http://127.0.0.1:7/s/demo/demo-3.0.tar.gz"
    # One entry per page and project, overwritten rather than accumulated.
    assert len(list(tmp_path.rglob("*/*/*"))) == 2


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"not json\n[[]]",
        b"HEADER\n[[1, 2, 3]]",
        b"HEADER\n{}",
        b'HEADER\n[["demo", "not a version", "f", "u", "sdist", "", null, null, null,'
        b" false, null, null]]",
        b'HEADER\n[["demo", "1.0", "f", "u", "egg", "", null, null, null, false, null, null]]',
        b'HEADER\n[["demo", "1.0", "f", "u", "wheel", "py3-none", null, null, null, false,'
        b" null, null]]",
        b'HEADER\n[["demo", "1.0", "f", "u", "sdist", "", 5, null, null, false, null, null]]',
    ],
)
def test_parsed_page_cache_ignores_corrupt_entries(tmp_path: Path, garbage: bytes) -> None:
    cache = Cache(tmp_path)
    expected = parse_page_cached(cache, CACHED_HTML, "text/html", PAGE, DEMO)
    (entry,) = (p for p in tmp_path.rglob("*/*/*") if p.is_file())
    header = entry.read_bytes().split(b"\n", 2)[1]
    data = garbage.replace(b"HEADER", header)
    entry.write_bytes(hashlib.sha256(data).hexdigest().encode() + b"\n" + data)

    assert parse_page_cached(cache, CACHED_HTML, "text/html", PAGE, DEMO) == expected
    # ... and the entry was rewritten.
    assert parse_page_cached(Cache(tmp_path), CACHED_HTML, "text/html", PAGE, DEMO) == expected
    assert entry.read_bytes() != hashlib.sha256(data).hexdigest().encode() + b"\n" + data


def test_parsed_page_cache_never_stores_credentials(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    page = "http://user:secret@127.0.0.1:1/simple/demo/"

    files = parse_page_cached(cache, CACHED_HTML, "text/html", page, DEMO)

    assert files[1].url == "http://user:secret@127.0.0.1:1/files/Demo-1.0.post0.tar.gz"
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    assert parse_page_cached(None, CACHED_HTML, "text/html", PAGE, DEMO) == parse_page(
        CACHED_HTML, "text/html", PAGE, DEMO
    )
