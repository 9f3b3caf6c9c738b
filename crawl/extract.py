"""Turn one HTML page into its main-content text blocks and images, in page (DOM) order.

Flamingo learns from the order of text and images, so the extractor's job is to keep the
article's paragraphs and the images between them exactly where the page put them, and
to leave out everything around the article (menus, footers, sidebars, cookie banners,
comments, "related" lists). Off-the-shelf extractors either drop images or lose their
position, so this one is ours, built on lxml for speed:

1. parse (capped at ``max_html_chars``, so a 50 MB page costs no more than a big one);
2. read page metadata: title, language, robots directives, ``<base href>``;
3. prune boilerplate subtrees by tag, ARIA role, hidden style and class/id words, in C
   where possible (``strip_elements``) because most of a page is boilerplate;
4. find the main-content container: the deepest element that still holds most of the
   page's long, non-link text (articles put their paragraphs side by side, boilerplate
   scatters short or link-heavy text around them);
5. walk that container once, emitting text blocks and images as they come.

Quality and speed are measured by ``benchmarks/extract.py`` with the metric in
``crawl/extract_quality.py``.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

from lxml import etree

from flamboyance.crawl.image_urls import image_reference, normalize_url
from flamboyance.shards.document import ImageNode, Node, TextNode

# Pages beyond this are truncated before parsing: the article is near the top, and a
# runaway page must not stall a crawl worker.
DEFAULT_MAX_HTML_CHARS = 3_000_000

# Removed with their content before anything else looks at the page.
_DROPPED_TAGS = (
    "script", "style", "noscript", "template", "iframe", "svg", "math", "canvas", "object",
    "embed", "button", "input", "select", "textarea", "option", "nav", "aside", "footer",
    "header", "menu", "dialog", "map", "audio", "video", "head", "link", "meta",
)  # fmt: skip

# Elements that start and end a text block. A block is tagged with its innermost
# enclosing _TEXT_TAGS element, else "p" (text straight in a div or section).
_BLOCK_TAGS = frozenset(
    "p div h1 h2 h3 h4 h5 h6 li ul ol dl dt dd pre blockquote table tr td th caption figure "
    "figcaption section article main address hr br center details summary form fieldset "
    "tbody thead tfoot body html legend".split()
)
_TEXT_TAGS = frozenset("p h1 h2 h3 h4 h5 h6 li pre blockquote td th dt dd address".split())

_BOILERPLATE_ROLES = frozenset(
    "navigation banner contentinfo complementary menu menubar search dialog alertdialog toolbar".split()
)
# class/id words of boilerplate blocks; matched at the start of a class or id word.
_BOILERPLATE_WORDS = re.compile(
    r"(?:^|[\s_-])(?:"
    r"nav(?:bar|igation)?|menu|footer|sidebar|side-bar|breadcrumbs?|cookie|consent|gdpr|"
    r"comments?(?:$|[\s_-]|list|area|section|wrap)|disqus|related|recommend|more-stories|"
    r"share|sharing|social|newsletter|subscri|signup|sign-up|advert|ads?(?:$|[\s_-]|slot|unit|box)|"
    r"adsense|dfp|promo|sponsor|widget|popup|modal|outbrain|taboola|paywall|"
    r"tags?(?:$|[\s_-]|list|cloud)|pagination|pager|author-?bio|byline|masthead|toolbar|"
    r"skip|print|jump|toc(?:$|[\s_-])|rail|trending|most-popular|popular|read-?more|"
    r"follow|login|hidden-print|visually-hidden|sr-only|screen-reader"
    r")"
)
# class/id words of article bodies (WordPress "entry-content", "article__body", ...).
_CONTENT_WORDS = re.compile(
    r"(?:^|[\s_-])(?:entry[_-]*(?:content|body)|article[_-]*(?:body|content|text)|articlebody|"
    r"post[_-]*(?:content|body|entry|text)|story[_-]*(?:body|content|text)|main[_-]*content|"
    r"content[_-]*body|body[_-]*text|rich[_-]*text|blog[_-]*post|single[_-]*post)(?:$|[\s_-])"
)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden")

# Boilerplate-looking elements holding at least this share of the page's text are kept.
_MAX_PRUNED_SHARE = 0.4
# A marked element holding this share of the page's text protects its ancestors.
_PROTECTING_SHARE = 0.1
# The container search starts at an element marked as content holding this share.
_MARKED_SHARE = 0.35
# The container search weighs text nodes at least this long (shorter ones are labels).
_MIN_WEIGHED_TEXT = 25
# Text inside a link this many levels up (the text's own element included) is link text.
_LINK_LEVELS = 4
# How much text counts towards the container search, by the block it sits in.
_TEXT_WEIGHT = {"p": 1.0, "pre": 1.0, "blockquote": 1.0, "li": 0.3, "h1": 0.3, "h2": 0.3, "h3": 0.3}
_DEFAULT_TEXT_WEIGHT = 0.5
# Descend into a child while it holds at least this share of its parent's weighed text.
_DESCEND_SHARE = 0.7
# A text block whose share of link text is at least this is navigation, not prose.
_MAX_LINK_DENSITY = 0.5

_WHITESPACE = re.compile(r"\s+")
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f\ufffd]")
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_ROBOTS_SPLIT = re.compile(r"[\s,]+")
_DIMENSION = re.compile(r"^\s*(\d{1,5})(?:\.\d+)?\s*(?:px)?\s*$", re.IGNORECASE)

_local = threading.local()


@dataclass
class ExtractedPage:
    """What the extractor found in a page; the caller adds the key and the source."""

    title: str = ""
    language: str | None = None
    nodes: list[Node] = field(default_factory=list)
    robots: set[str] = field(default_factory=set)
    base_url: str = ""

    def text(self, separator: str = "\n\n") -> str:
        """The text blocks joined, as text filters and the quality benchmark read them."""
        return separator.join(node.text for node in self.nodes if isinstance(node, TextNode))


def extract_page(html: str, url: str, max_html_chars: int = DEFAULT_MAX_HTML_CHARS) -> ExtractedPage:
    """Main-content text blocks and images of ``html``, fetched from ``url``, in DOM order.

    Never raises for bad markup: an empty or unparsable page gives an empty result.
    """
    root = _parse(html[:max_html_chars])
    page = ExtractedPage(base_url=url)
    if root is None:
        return page
    _read_metadata(root, url, page)
    body = root.find("body")
    if body is None:
        body = root
    marked = _prune(body)
    container = _main_container(body, marked)
    page.nodes = _Flattener(page.base_url).run(container)
    return page


def _parse(html: str) -> etree._Element | None:
    parser = getattr(_local, "parser", None)
    if parser is None:  # lxml parsers must not be shared between threads
        parser = _local.parser = etree.HTMLParser(remove_comments=True, remove_pis=True, no_network=True)
    html = _XML_DECLARATION.sub("", html, count=1)
    if not html.strip():
        return None
    try:
        return etree.fromstring(html, parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        return None


def _clean(text: str) -> str:
    """Whitespace collapsed; control characters and decoding debris removed."""
    return _WHITESPACE.sub(" ", _CONTROL.sub("", text)).strip()


def _read_metadata(root: etree._Element, url: str, page: ExtractedPage) -> None:
    head_title = root.find(".//title")
    if head_title is not None:
        page.title = _clean("".join(head_title.itertext()))
    page.language = _clean(root.get("lang") or root.get("xml:lang") or "") or None
    for meta in root.iter("meta"):
        name = (meta.get("name") or meta.get("http-equiv") or meta.get("property") or "").strip().lower()
        content = meta.get("content") or ""
        if name == "robots" or name.endswith("bot"):
            page.robots.update(d for d in _ROBOTS_SPLIT.split(content.lower()) if d)
        elif name in ("content-language", "language", "og:locale") and not page.language:
            page.language = _clean(content.split(",")[0]) or None
        elif name == "og:title" and not page.title:
            page.title = _clean(content)
    base = root.find(".//base[@href]")
    if base is not None:
        page.base_url = normalize_url(base.get("href", ""), url) or url


def _prune(body: etree._Element) -> list[etree._Element]:
    """Remove boilerplate subtrees, keeping the text that follows each one.

    Returns the elements marked as article content by their tag, ``itemprop`` or
    class/id words, which the container search prefers.
    """
    etree.strip_elements(body, *_DROPPED_TAGS, with_tail=False)
    page_chars = body.xpath("string-length(normalize-space())")
    classified = [(element, _classify(element)) for element in body.xpath(_CLASSIFIED)]
    marked = [element for element, kind in classified if kind is _CONTENT]
    # Never drop what wraps a sizeable marked article ("box article modal-enabled").
    protected = {
        ancestor
        for element in marked
        if element.xpath("string-length(normalize-space())") >= _PROTECTING_SHARE * page_chars
        for ancestor in element.iterancestors()
    }
    for element, kind in classified:
        # A boilerplate-looking wrapper of most of the page's text is a false alarm
        # (Blogger's "widget Blog" holds the post): keep it.
        if kind is _BOILERPLATE and element not in protected:
            if element.xpath("string-length(normalize-space())") < _MAX_PRUNED_SHARE * page_chars:
                _drop(element)
    return marked


_CONTENT, _BOILERPLATE = "content", "boilerplate"
_CLASSIFIED = ".//*[@class or @id or @role or @style or @hidden or @aria-hidden or @itemprop or self::article]"


def _classify(element: etree._Element) -> str | None:
    """Whether an element's markup says it is article content, boilerplate, or neither."""
    get = element.get
    names = f"{get('class') or ''} {get('id') or ''}".lower()
    if element.tag == "article" or get("itemprop") == "articleBody" or _CONTENT_WORDS.search(names):
        return _CONTENT
    if get("hidden") is not None or get("aria-hidden") == "true":
        return _BOILERPLATE
    if (get("role") or "").lower() in _BOILERPLATE_ROLES:
        return _BOILERPLATE
    style = get("style")
    if style and _HIDDEN_STYLE.search(style.lower()):
        return _BOILERPLATE
    return _BOILERPLATE if _BOILERPLATE_WORDS.search(names) else None


def _drop(element: etree._Element) -> None:
    parent = element.getparent()
    if parent is None:
        return
    tail = element.tail
    if tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(element)


def _main_container(body: etree._Element, marked: list[etree._Element]) -> etree._Element:
    """The deepest element holding most of the page's long non-link text.

    Text counts by the block it sits in: prose lives in paragraphs, while teaser lists
    and card grids put their blurbs in list items and bare divs, so those count less.
    """
    weight: dict[etree._Element, float] = {}
    best_child: dict[etree._Element, etree._Element] = {}
    for text in body.xpath(f".//text()[string-length(normalize-space()) >= {_MIN_WEIGHED_TEXT}]"):
        owner = text.getparent()
        if text.is_tail:
            owner = owner.getparent()
        if owner is None:
            continue
        chain = [owner]
        for ancestor in owner.iterancestors():
            chain.append(ancestor)
            if ancestor is body:
                break
        # Link text: teasers and menus. Only nearby links count: a stray unclosed <a>
        # far up can wrap a whole article.
        if any(e.tag == "a" for e in chain[:_LINK_LEVELS]):
            continue
        block = next((e.tag for e in chain if e.tag in _BLOCK_TAGS), "div")
        amount = len(text.strip()) * _TEXT_WEIGHT.get(block, _DEFAULT_TEXT_WEIGHT)
        child = None
        for element in chain:
            weight[element] = weight.get(element, 0) + amount
            if child is not None:
                current = best_child.get(element)
                if current is None or weight[child] > weight[current]:
                    best_child[element] = child
            child = element
    # Start from the heaviest element marked as content, when it holds a fair share.
    heavy = [e for e in marked if weight.get(e, 0) >= _MARKED_SHARE * weight.get(body, 0)]
    container = max(heavy, key=lambda e: weight[e]) if heavy else body
    while True:
        child = best_child.get(container)
        # Never descend into a single text block: a short article whose first paragraph
        # holds most of its text would otherwise be cut down to that paragraph.
        if child is None or child.tag in _TEXT_TAGS or weight[child] < _DESCEND_SHARE * weight[container]:
            return container
        container = child


class _Flattener:
    """One pass over a container, turning nested markup into flat text blocks and images."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.nodes: list[Node] = []
        self.seen_urls: set[str] = set()
        self.parts: list[str] = []
        self.link_chars = 0
        self.link_depth = 0
        self.blocks: list[str] = []

    def run(self, container: etree._Element) -> list[Node]:
        walker = etree.iterwalk(container, events=("start", "end"))
        for event, element in walker:
            tag = element.tag
            if not isinstance(tag, str):
                continue
            if event == "start":
                if tag in _BLOCK_TAGS:
                    self._flush()
                    self.blocks.append(tag)
                    if _is_caption(element):
                        walker.skip_subtree()
                        continue
                if tag == "img":
                    self._flush()
                    self._image(element)
                elif tag == "a":
                    self.link_depth += 1
                if element.text:
                    self._add(element.text)
                if tag == "picture":
                    walker.skip_subtree()
                    self._picture(element)
            else:
                if tag in _BLOCK_TAGS:
                    self._flush()
                    self.blocks.pop()
                elif tag == "a":
                    self.link_depth -= 1
                if element.tail and element is not container:
                    self._add(element.tail)
        self._flush()
        return self.nodes

    def _add(self, text: str) -> None:
        self.parts.append(text)
        if self.link_depth:
            self.link_chars += len(text.strip())

    def _flush(self) -> None:
        if not self.parts:
            return
        text = _clean("".join(self.parts))
        link_chars, self.parts, self.link_chars = self.link_chars, [], 0
        if not text or link_chars >= _MAX_LINK_DENSITY * len(text):
            return
        tag = next((t for t in reversed(self.blocks) if t in _TEXT_TAGS), "p")
        self.nodes.append(TextNode(text=text, tag=tag))

    def _picture(self, picture: etree._Element) -> None:
        srcsets = [s.get("srcset") or s.get("data-srcset") or "" for s in picture.iter("source")]
        image = next(picture.iter("img"), None)
        self._image(image if image is not None else picture, srcsets)

    def _image(self, image: etree._Element, extra_srcsets: list[str] = ()) -> None:
        reference = image_reference(image.attrib, extra_srcsets)
        url = normalize_url(reference, self.base_url) if reference else None
        if url is None or url in self.seen_urls:
            return
        self.seen_urls.add(url)
        self.nodes.append(
            ImageNode(
                url=url,
                alt=_clean(image.get("alt") or ""),
                caption=_caption_of(image),
                rendered_width=_dimension(image.get("width")),
                rendered_height=_dimension(image.get("height")),
            )
        )


def _is_caption(element: etree._Element) -> bool:
    """Captions are read with their image (``_caption_of``), not as text blocks."""
    tag = element.tag
    if tag in ("figcaption", "caption"):
        return True
    return tag == "div" and "thumbcaption" in (element.get("class") or "")


def _caption_of(image: etree._Element) -> str:
    for ancestor in image.iterancestors():
        tag = ancestor.tag
        if tag == "figure":
            caption = ancestor.find(".//figcaption")
        elif tag == "table":
            caption = ancestor.find("caption")
        elif "thumb" in (ancestor.get("class") or ""):
            caption = next(iter(ancestor.xpath(".//div[contains(@class, 'thumbcaption')]")), None)
            if caption is None:
                continue
        elif tag in ("body", "article", "main", "section"):
            return ""
        else:
            continue
        return _clean("".join(caption.itertext())) if caption is not None else ""
    return ""


def _dimension(value: str | None) -> int | None:
    match = _DIMENSION.match(value) if value else None
    return int(match.group(1)) if match else None
