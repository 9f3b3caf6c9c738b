"""Turn one HTML page into its main-content text blocks and images, in page (DOM) order.

Flamingo learns from the order of text and images, so the extractor's job is to keep the
article's paragraphs and the images between them exactly where the page put them, and
to leave out everything around the article (menus, footers, sidebars, cookie banners,
comments, "related" lists). Off-the-shelf extractors either drop images or lose their
position, so this one is ours, built on lxml for speed:

1. parse (capped at ``max_html_chars``, so a 50 MB page costs no more than a big one; text
   after ``</body>`` kept, as browsers show it; every cut recorded in ``truncated``);
2. read page metadata: title, language, robots directives, ``<base href>``, og:image, and
   the JSON-LD ``articleBody`` for pages whose text lives only in a script;
3. prune boilerplate subtrees by tag, ARIA role, hidden style and class/id words, in C
   where possible (``strip_elements``) because most of a page is boilerplate. Page
   furniture (``<header>``, ``<aside>``) goes unless it sits inside the article, and class
   words count only where they name the block (see ``_boilerplate_token``);
4. find the main-content container: the deepest element that still holds most of the
   page's long, non-link text (articles put their paragraphs side by side, boilerplate
   scatters short or link-heavy text around them), plus the prose siblings beside it;
5. walk that once, emitting text blocks (NFC, soft hyphens removed) and images (with
   their captions) as they come, then put the lead image first if the walk missed it;
6. a page where this finds almost nothing gets a second opinion (JSON-LD, trafilatura).

Quality and speed are measured by ``benchmarks/extract.py`` with the metric in
``crawl/extract_quality.py``.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import threading
import unicodedata
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
    "embed", "button", "input", "select", "textarea", "option", "nav", "footer",
    "menu", "dialog", "map", "audio", "video", "head", "link", "meta", "rt", "rp",
)  # fmt: skip
# Page furniture by tag (<header>, <aside>; see _prune) is dropped unless it sits
# inside the article: an article's own <header> holds its title, teaser and lead image,
# and an <aside> inside it is a fact box.

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
# class/id words of boilerplate blocks, matched per class or id token. A token is read
# without its BEM modifier ("section--ads" is a kind of section) and split into words at
# "-" and "_". Unambiguous words count anywhere in a token; words that also name parts of
# articles (page builders' "elementor-widget-container", WordPress's "tag-<slug>" post
# classes, a newspaper's "Comment" section) count only as a token's first or last word.
_BOILERPLATE_WORDS = re.compile(
    r"(?:^|[_-])(?:"
    r"nav(?:bar|igation)?|menu|footer|sidebar|side-bar|breadcrumbs?|cookies?|consent|gdpr|"
    r"comments|commentlist|disqus|related|recommend(?:ed|ations?)?|more-stories|"
    r"sharing|social|newsletter|subscri\w*|signup|sign-up|advert\w*|adsense|dfp|promo|sponsor\w*|popup|modal|"
    r"outbrain|taboola|paywall|pagination|pager|author-?bio|byline|masthead|toolbar|"
    r"skip(?:link|-link|-to)|trending|most-popular|popular|login|hidden-print|visually-hidden|sr-only|screen-reader"
    r")(?:$|[_-])"
)
_EDGE_WORDS = frozenset("widget share shares ad ads adslot adunit adbox tag tags toc rail follow carousel slider".split())
_COMMENT_FORMS = re.compile(r"^comments?[_-]*(?:list|area|section|wrap\w*|form|respond|thread|container)?$")
_TOKEN_WORDS = re.compile(r"[_-]+")
# Any of the words above, anywhere: most class and id strings contain none, and this one
# search lets them skip the token-by-token reading.
_ANY_BOILERPLATE_WORD = re.compile(
    _BOILERPLATE_WORDS.pattern.replace(r"(?:^|[_-])", "", 1).rsplit(r"(?:$|[_-])", 1)[0]
    + "|comment|" + "|".join(sorted(_EDGE_WORDS))
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
_SURE_DESCEND_SHARE = 0.9
_MAX_LOST_WEIGHT = 400
# A text block whose share of link text is at least this is navigation, not prose, unless
# it reads as a sentence (a linked sentence, a reference, a definition): at least this many
# words ending in sentence punctuation.
_MAX_LINK_DENSITY = 0.5
_SENTENCE_WORDS = 10
# A sibling of the container needs this much text to join it (see _with_adjacent_content).
_MIN_ADJACENT_CHARS = 80
_HEADING_TAGS = frozenset("h1 h2 h3 h4 h5 h6".split())
_PROSE_TAGS = frozenset("p ul ol dl table blockquote".split())
_PROSE_CHILD = "./*[self::p or self::ul or self::ol or self::dl or self::table or self::blockquote]"
_SENTENCE_END = tuple(".!?:;。！？」)\"'”’")

# Control characters, decoding debris and soft hyphens (invisible break hints that split
# words for every tokenizer).
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f\ufffd\u00ad]")
# What lxml refuses in text set through its API, though its parser keeps them (after
# </html>, for one): cleaned from the text the pruning moves, not from the whole page
# (a scan of every page would cost an eighth of extracting it). Vertical tab and form
# feed separate words; the rest is debris.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
# Browsers put what follows </body> or </html> into the body; libxml2 drops it.
_END_TAGS = re.compile(r"</(?:body|html)\s*>", re.IGNORECASE)
_END_TAG_WINDOW = 1 << 16
_ROBOTS_SPLIT = re.compile(r"[\s,]+")
_DIMENSION = re.compile(r"^\s*(\d{1,5})(?:\.\d+)?\s*(?:px)?\s*$", re.IGNORECASE)
_DEPTH_ERROR = "Excessive depth"
# An image declared smaller than this on a side is an icon, not a lead image; nor is an
# image whose URL, class, id or alt text names it as branding or decoration.
_MIN_LEAD_SIDE = 100
_DECORATION = re.compile(r"logo|icon|avatar|sprite|badge|spacer|pixel|banner|sponsor", re.IGNORECASE)
# How many levels above the container the lead-image search looks, and how much text
# may stand between a lead image and the container (a title and a teaser, not an article).
_LEAD_LEVELS = 3
_MAX_TEXT_BEFORE_LEAD = 400
# Below this much text the extraction is suspect: the page's JSON-LD articleBody or, if
# there is none, trafilatura's text is used instead when it is at least twice as long.
_FEW_CHARS = 200
_SECOND_OPINION_GAIN = 2

_local = threading.local()


@dataclass
class ExtractedPage:
    """What the extractor found in a page; the caller adds the key and the source.

    ``truncated`` names the limits that cut the page (``chars``: the page was longer than
    ``max_html_chars``; ``depth``: markup nested deeper than the parser follows), so a
    caller can count them. ``robots`` holds the ``<meta name="robots">`` directives, and
    those of a meta tag for one crawler as ``"name: directive"``, the X-Robots-Tag form. ``lead_image`` is the page's og:image / twitter:image when
    that image is also shown in the page.
    """

    title: str = ""
    language: str | None = None
    nodes: list[Node] = field(default_factory=list)
    robots: set[str] = field(default_factory=set)
    base_url: str = ""
    truncated: list[str] = field(default_factory=list)
    lead_image: str | None = None

    def text(self, separator: str = "\n\n") -> str:
        """The text blocks joined, as text filters and the quality benchmark read them."""
        return separator.join(node.text for node in self.nodes if isinstance(node, TextNode))


def extract_page(html: str, url: str, max_html_chars: int = DEFAULT_MAX_HTML_CHARS) -> ExtractedPage:
    """Main-content text blocks and images of ``html``, fetched from ``url``, in DOM order.

    Never raises for bad markup: an empty or unparsable page gives an empty result.
    """
    page = ExtractedPage(base_url=url)
    if len(html) > max_html_chars:
        page.truncated.append("chars")
        html = html[:max_html_chars]
    root = _parse(html, page)
    if root is None:
        return page
    scripts = _read_metadata(root, url, page)
    body = root.find("body")
    if body is None:
        body = root
    og_image = _shown_og_image(body, page)
    marked, page_chars = _prune(body)
    container = _main_container(body, marked)
    page.nodes = _Flattener(page.base_url).run(_with_adjacent_content(container))
    if len(page.text()) < _FEW_CHARS:
        # Trafilatura is asked only when the page shows clearly more text than we kept.
        asked = page_chars > _SECOND_OPINION_GAIN * len(page.text())
        _second_opinion(page, _json_ld_article_body(scripts) or (_trafilatura_text(html, url) if asked else ""))
    _put_lead_image_first(page, container, og_image)
    return page


def _second_opinion(page: ExtractedPage, text: str) -> None:
    """Replace our text by ``text`` (paragraphs split at newlines) when it is clearly more.

    A page where we found almost nothing is one whose layout fooled us (text in links,
    text only in a script): the JSON-LD articleBody, else trafilatura, gets a say. The
    images we found stay, ahead of the text, since the other text carries no positions.
    """
    if len(text) <= _SECOND_OPINION_GAIN * len(page.text()):
        return
    images = [node for node in page.nodes if isinstance(node, ImageNode)]
    page.nodes = images + [TextNode(text=part, tag="p") for part in map(_clean, text.split("\n")) if part]


def _trafilatura_text(html: str, url: str) -> str:
    import trafilatura  # only for the few pages that need it: importing it takes a while

    try:
        return trafilatura.extract(html, url=url, fast=True) or ""
    except Exception:  # noqa: BLE001 - a second opinion that fails is no opinion
        return ""


def _parse(html: str, page: ExtractedPage) -> etree._Element | None:
    parser = getattr(_local, "parser", None)
    if parser is None:  # lxml parsers must not be shared between threads
        parser = _local.parser = etree.HTMLParser(remove_comments=True, remove_pis=True, no_network=True, huge_tree=True)
    html = _without_end_tags(_XML_DECLARATION.sub("", html, count=1))
    if not html.strip():
        return None
    try:
        root = etree.fromstring(html, parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        return None
    last_error = parser.error_log.last_error  # nesting too deep stops the parser: it is the last error
    if last_error is not None and _DEPTH_ERROR in last_error.message:
        page.truncated.append("depth")
    return root


def _without_end_tags(html: str) -> str:
    """``html`` without its closing body and html tags, so that text after them is parsed.

    Searched for near the end only (where they are), since scanning a whole page costs as
    much as a fifth of parsing it.
    """
    window = max(len(html) - _END_TAG_WINDOW, 0)
    end = max(html.rfind("</body", window), html.rfind("</BODY", window), html.rfind("</Body", window))
    if end < 0:
        return html
    tail = _END_TAGS.sub("", html[end:])
    return html[:end] + tail if tail.strip() else html  # copy the page only when something follows


def _clean(text: str) -> str:
    """Whitespace collapsed; control characters, soft hyphens and decoding debris removed; NFC."""
    text = " ".join(_CONTROL.sub("", text).split())
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def _read_metadata(root: etree._Element, url: str, page: ExtractedPage) -> list[str]:
    """Fill in title, language, robots directives, base URL and og:image; return the
    JSON-LD scripts that hold an ``articleBody``, kept now because scripts are pruned next
    (and parsed only for the few pages that need them). One pass over the page finds them all."""
    page.language = _clean(root.get("lang") or root.get("xml:lang") or "") or None
    og_image = ""
    og_title = ""
    scripts = []
    base = None
    for element in root.iter("title", "meta", "base", "script"):  # one pass over the page
        tag = element.tag
        if tag == "meta":
            get = element.get
            name = (get("name") or get("http-equiv") or get("property") or "").strip().lower()
            content = get("content") or ""
            if name == "robots":
                page.robots.update(d for d in _ROBOTS_SPLIT.split(content.lower()) if d)
            elif name.endswith("bot"):  # directives for one crawler, kept with its name
                page.robots.update(f"{name}: {d}" for d in _ROBOTS_SPLIT.split(content.lower()) if d)
            elif name in ("content-language", "language", "og:locale") and not page.language:
                page.language = _clean(content.split(",")[0]) or None
            elif name == "og:title" and not og_title:
                og_title = _clean(content)
            elif name in _IMAGE_META and not og_image:
                og_image = content.strip()
        elif tag == "title":
            if not page.title:
                page.title = _clean("".join(element.itertext()))
        elif tag == "base":
            if base is None and element.get("href"):
                base = element
        elif element.text and "ld+json" in (element.get("type") or "") and "articleBody" in element.text:
            scripts.append(element.text)
    page.title = page.title or og_title
    if base is not None:
        page.base_url = normalize_url(base.get("href", ""), url) or url
    if og_image:
        page.lead_image = normalize_url(og_image, page.base_url)
    return scripts


_IMAGE_META = frozenset({"og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src"})


def _json_ld_article_body(scripts: list[str]) -> str:
    """The longest JSON-LD ``articleBody`` of the scripts, or empty."""
    longest = ""
    for script in scripts:
        try:
            data = json.loads(script)
        except (ValueError, RecursionError):  # broken, or nested deeper than the decoder goes
            continue
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                body = item.get("articleBody")
                if isinstance(body, str) and len(body) > len(longest):
                    longest = body
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
    return longest


def _shown_og_image(body: etree._Element, page: ExtractedPage) -> etree._Element | None:
    """The ``<img>`` that shows the og:image, if the page shows it (else it is no lead image)."""
    wanted = page.lead_image
    page.lead_image = None
    if not wanted:
        return None
    name = wanted.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
    # Only images naming the file somewhere in their attributes are resolved and compared.
    for image in body.xpath(".//img[@*[contains(., $name)]]", name=name):
        reference = image_reference(image.attrib, ())
        if reference and normalize_url(reference, page.base_url) == wanted:
            page.lead_image = wanted
            return image
    return None


def _prune(body: etree._Element) -> tuple[list[etree._Element], int]:
    """Remove boilerplate subtrees, keeping the text that follows each one.

    Returns the elements marked as article content by their tag, ``itemprop`` or
    class/id words, which the container search prefers, and how much text the page shows
    (scripts and styles left out).
    """
    etree.strip_elements(body, *_DROPPED_TAGS, with_tail=False)
    page_chars = body.xpath("string-length(normalize-space())")
    # Page furniture goes first, so that the menus inside it are not classified one by one.
    # An <aside> outside the marked article (and not holding it) is tangential whatever its
    # size (a sidebar can outweigh a short article); a <header> there may still hold the
    # article's title and lead image, so only the share rule drops it.
    found = body.xpath(_FURNITURE_OR_ARTICLE)  # one pass finds both
    articles = any(element.tag not in ("header", "aside") or element.get("itemprop") == "articleBody" for element in found)
    furniture = []
    for element in (e for e in found if e.tag in ("header", "aside")):
        if articles and element.tag == "aside" and not _in_marked_article(element) and not element.xpath(_ARTICLES):
            _drop(element)
        elif not _inside_article(element):
            furniture.append(element)
    _drop_small([element for element in furniture if element.getparent() is not None], set(), page_chars)
    classified = [(element, _classify(element)) for element in body.xpath(_CLASSIFIED)]
    marked = [element for element, kind in classified if kind is _CONTENT]
    # Never drop what wraps a sizeable marked article ("box article modal-enabled").
    protected = {
        ancestor
        for element in marked
        if element.xpath("string-length(normalize-space())") >= _PROTECTING_SHARE * page_chars
        for ancestor in element.iterancestors()
    }
    _drop_small([element for element, kind in classified if kind is _BOILERPLATE], protected, page_chars)
    return marked, int(page_chars)


def _drop_small(elements: list[etree._Element], protected: set[etree._Element], page_chars: float) -> None:
    """Drop the elements (in document order) that hold less than a share of the page's text.

    A boilerplate-looking wrapper of most of the page's text is a false alarm (Blogger's
    "widget Blog" holds the post): it is kept.
    """
    dropped: etree._Element | None = None
    for element in elements:
        if element in protected:
            continue
        if dropped is not None and any(ancestor is dropped for ancestor in element.iterancestors()):
            continue  # gone with the last dropped subtree (document order puts it right after)
        if element.xpath("string-length(normalize-space())") < _MAX_PRUNED_SHARE * page_chars:
            _drop(element)
            dropped = element


_CONTENT, _BOILERPLATE = "content", "boilerplate"
_CLASSIFIED = ".//*[@class or @id or @role or @style or @hidden or @aria-hidden or @itemprop or self::article]"
_FURNITURE_OR_ARTICLE = ".//*[self::header or self::aside or self::article or @itemprop='articleBody']"
_ARTICLES = ".//*[self::article or @itemprop='articleBody']"


def _classify(element: etree._Element) -> str | None:
    """Whether an element's markup says it is article content, boilerplate, or neither."""
    if element.tag == "article":
        return _CONTENT
    klass = ident = None
    kind = None
    for name, value in element.items():  # one call for all attributes: this runs for most elements
        if name == "class":
            klass = value
        elif name == "id":
            ident = value
        elif name == "itemprop":
            if value == "articleBody":
                return _CONTENT
        elif name == "hidden" or (name == "aria-hidden" and value == "true"):
            kind = _BOILERPLATE
        elif name == "role":
            if value.lower() in _BOILERPLATE_ROLES:
                kind = _BOILERPLATE
        elif name == "style" and _HIDDEN_STYLE.search(value.lower()):
            kind = _BOILERPLATE
    names = _names_kind(klass, ident)
    return _CONTENT if names is _CONTENT else kind or names


@functools.lru_cache(maxsize=8192)
def _names_kind(klass: str | None, ident: str | None) -> str | None:
    """What class and id words say: content, boilerplate or nothing (pages repeat their
    class strings, so this is cached)."""
    if not klass and not ident:
        return None
    names = f"{klass or ''} {ident or ''}".lower()
    if _CONTENT_WORDS.search(names):
        return _CONTENT
    if not _ANY_BOILERPLATE_WORD.search(names):
        return None
    return _BOILERPLATE if any(_boilerplate_token(token) for token in names.split()) else None


def _boilerplate_token(token: str) -> bool:
    token = token.split("--", 1)[0]  # a BEM modifier names a variant, not the thing
    if _BOILERPLATE_WORDS.search(token) or _COMMENT_FORMS.match(token):
        return True
    words = [word for word in _TOKEN_WORDS.split(token) if word]
    if not words:
        return False
    first, last = words[0], words[-1]
    if first in ("tag", "tags") and len(words) > 1 and words[1] not in ("list", "cloud", "links"):
        first = ""  # WordPress's "tag-<slug>" post class
    return first in _EDGE_WORDS or last in _EDGE_WORDS or token in _EDGE_WORDS


def _in_marked_article(element: etree._Element) -> bool:
    return any(a.tag == "article" or a.get("itemprop") == "articleBody" for a in element.iterancestors())


def _inside_article(element: etree._Element) -> bool:
    for ancestor in element.iterancestors():
        if ancestor.tag in ("article", "main") or ancestor.get("itemprop") == "articleBody" or ancestor.get("role") == "main":
            return True
        if _CONTENT_WORDS.search(f"{ancestor.get('class') or ''} {ancestor.get('id') or ''}".lower()):
            return True
    return False


def _drop(element: etree._Element) -> None:
    parent = element.getparent()
    if parent is None:
        return
    tail = element.tail
    if tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = _xml_text((previous.tail or "") + tail)
        else:
            parent.text = _xml_text((parent.text or "") + tail)
    parent.remove(element)


def _xml_text(text: str) -> str:
    """``text`` as lxml accepts it through its API (see ``_NOT_XML``)."""
    return _NOT_XML.sub(lambda found: " " if found.group() in "\x0b\x0c" else "", text)


def _main_container(body: etree._Element, marked: list[etree._Element]) -> etree._Element:
    """The deepest element holding most of the page's long non-link text.

    Text counts by the block it sits in: prose lives in paragraphs, while teaser lists
    and card grids put their blurbs in list items and bare divs, so those count less.
    """
    weight: dict[etree._Element, float] = {}
    best_child: dict[etree._Element, etree._Element] = {}
    # Text per owning element first: paragraphs hold several text nodes (around links and
    # emphasis), and each owner's ancestors are walked once.
    chars_by_owner: dict[etree._Element, int] = {}
    for text in body.xpath(f".//text()[string-length(normalize-space()) >= {_MIN_WEIGHED_TEXT}]"):
        owner = text.getparent()
        if text.is_tail:
            owner = owner.getparent()
        if owner is not None:
            chars_by_owner[owner] = chars_by_owner.get(owner, 0) + len(text.strip())
    for owner, chars in chars_by_owner.items():
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
        amount = chars * _TEXT_WEIGHT.get(block, _DEFAULT_TEXT_WEIGHT)
        child = None
        for element in chain:
            weight[element] = weight.get(element, 0) + amount
            if child is not None:
                current = best_child.get(element)
                if current is None or weight[child] > weight[current]:
                    best_child[element] = child
            child = element
    # Start from the heaviest element marked as content, when it holds a fair share.
    heavy = [e for e in marked if weight.get(e, 0) >= _MARKED_SHARE * weight.get(body, 0) > 0]
    container = max(heavy, key=lambda e: weight[e]) if heavy else body
    while True:
        child = best_child.get(container)
        # Never descend into a single text block: a short article whose first paragraph
        # holds most of its text would otherwise be cut down to that paragraph.
        if child is None or child.tag in _TEXT_TAGS:
            return container
        kept, total = weight.get(child, 0), weight.get(container, 0)
        if kept < _DESCEND_SHARE * total or (kept < _SURE_DESCEND_SHARE * total and total - kept > _MAX_LOST_WEIGHT):
            return container
        container = child


def _with_adjacent_content(container: etree._Element) -> list[etree._Element]:
    """The container and the siblings next to it that read as content, in page order.

    The container search stops at the element holding most of the prose, so a teaser
    paragraph, an ingredients list or a specifications table beside the article body is
    left out. A sibling joins while it is text that is not mostly links (link lists,
    related stories and share bars end the run; boilerplate was pruned already).
    """
    if container.getparent() is None:
        return [container]
    before = list(itertools.takewhile(_reads_as_content, container.itersiblings(preceding=True)))
    after = list(itertools.takewhile(_reads_as_content, container.itersiblings()))
    return [*reversed(before), container, *after]


def _reads_as_content(element: etree._Element) -> bool:
    if not isinstance(element.tag, str) or element.tag in _HEADING_TAGS:
        return False
    if element.tag not in _PROSE_TAGS and not element.xpath(_PROSE_CHILD):
        return False  # a byline, a date line, a widget: text not written as paragraphs or lists
    chars = len(element.xpath("normalize-space()"))
    if chars < _MIN_ADJACENT_CHARS:
        return False
    link_chars = sum(len(text.strip()) for text in element.xpath(".//a//text()"))
    return link_chars < _MAX_LINK_DENSITY * chars


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

    def run(self, elements: list[etree._Element]) -> list[Node]:
        """Flatten ``elements``, siblings in page order, with the text between them."""
        for element in elements:
            self._walk(element, with_tail=element is not elements[-1])
        self._flush()
        return self.nodes

    def _walk(self, top: etree._Element, with_tail: bool) -> None:
        walker = etree.iterwalk(top, events=("start", "end"))
        for event, element in walker:
            tag = element.tag
            if not isinstance(tag, str):
                continue
            if event == "start":
                if tag in _BLOCK_TAGS:
                    self._flush()
                    self.blocks.append(tag)
                if tag in ("figcaption", "caption") or (tag in _CAPTION_HOLDERS and _is_caption(element)):
                    self._flush()
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
                if element.tail and (element is not top or with_tail):
                    self._add(element.tail)

    def _add(self, text: str) -> None:
        self.parts.append(text)
        if self.link_depth:
            self.link_chars += len(text.strip())

    def _flush(self) -> None:
        if not self.parts:
            return
        text = _clean("".join(self.parts))
        link_chars, self.parts, self.link_chars = self.link_chars, [], 0
        if not text or (link_chars >= _MAX_LINK_DENSITY * len(text) and not _is_sentence(text)):
            return
        tag = next((t for t in reversed(self.blocks) if t in _TEXT_TAGS), "p")
        self.nodes.append(TextNode(text=text, tag=tag))

    def _picture(self, picture: etree._Element) -> None:
        image = next(picture.iter("img"), None)
        self._image(image if image is not None else picture)

    def _image(self, image: etree._Element) -> None:
        node = image_node(image, self.base_url)
        if node is not None and node.url not in self.seen_urls:
            self.seen_urls.add(node.url)
            self.nodes.append(node)


def image_node(image: etree._Element, base_url: str) -> ImageNode | None:
    """The image an ``<img>`` (or a ``<picture>`` without one) shows, with its caption; None without a usable URL."""
    # libxml2 does not know <source> is empty and nests the <img> in it.
    picture = next((e for e in (image, *itertools.islice(image.iterancestors(), 2)) if e.tag == "picture"), None)
    srcsets = []
    if picture is not None:
        srcsets = [s.get("srcset") or s.get("data-srcset") or "" for s in picture.iter("source")]
    reference = image_reference(image.attrib, srcsets)
    url = normalize_url(reference, base_url) if reference else None
    if url is None:
        return None
    return ImageNode(
        url=url,
        alt=_clean(image.get("alt") or ""),
        caption=_caption_of(image),
        rendered_width=_dimension(image.get("width")),
        rendered_height=_dimension(image.get("height")),
    )


def _put_lead_image_first(page: ExtractedPage, container: etree._Element, og_image: etree._Element | None) -> None:
    """Make the article's lead image the document's first node when the flattening missed it.

    A lead image sits above the text (between title and first paragraph, often in the
    article's header or a figure), so it is outside the container when the container is
    the text block; or the page names it as og:image / twitter:image. Nothing is done when
    the document already starts with an image.
    """
    nodes = page.nodes
    if not nodes or isinstance(nodes[0], ImageNode):
        return
    shown = {node.url for node in nodes if isinstance(node, ImageNode)}
    for element in (_image_above(container), og_image):
        if element is None:
            continue
        node = image_node(element, page.base_url)
        if node is not None and node.url not in shown and not _small(node) and not _decoration(element, node):
            nodes.insert(0, node)
            return


def _image_above(container: etree._Element) -> etree._Element | None:
    """The nearest image before ``container`` with no more than a title's and teaser's text between."""
    text_between = 0
    current = container
    for _ in range(_LEAD_LEVELS):
        for sibling in current.itersiblings(preceding=True):
            if not isinstance(sibling.tag, str):
                continue
            images = [image for image in sibling.iter("img") if image_reference(image.attrib, ())]
            if sibling.tag == "img" and image_reference(sibling.attrib, ()):
                images = [sibling]
            if images:
                return images[-1]
            text_between += len(sibling.xpath("normalize-space()"))
            if text_between > _MAX_TEXT_BEFORE_LEAD:
                return None
        current = current.getparent()
        if current is None or current.tag in ("body", "html"):
            return None
    return None


def _decoration(element: etree._Element, node: ImageNode) -> bool:
    names = f"{node.url} {element.get('class') or ''} {element.get('id') or ''} {node.alt}"
    return _DECORATION.search(names) is not None


def _small(node: ImageNode) -> bool:
    sides = [side for side in (node.rendered_width, node.rendered_height) if side is not None]
    return any(side < _MIN_LEAD_SIDE for side in sides)


# Class words of caption containers ("wp-caption-text", "media__caption", "legend").
_CAPTION_CLASS = re.compile(r"(?:^|[\s_-])(?:thumb)?(?:caption|legend)(?:$|[\s_-])")
# Tags that caption containers are made of (a class check for every element would cost).
_CAPTION_HOLDERS = frozenset("div p span small em i figcaption section aside".split())
# Levels above an image searched for its caption container.
_CAPTION_LEVELS = 3


def _is_sentence(text: str) -> bool:
    return text.endswith(_SENTENCE_END) and text.count(" ") + 1 >= _SENTENCE_WORDS


def _is_caption(element: etree._Element) -> bool:
    """Captions are read with their image (``_caption_of``), not as text blocks."""
    tag = element.tag
    if tag in ("figcaption", "caption"):
        return True
    klass = element.get("class")
    if not klass or not ("aption" in klass or "egend" in klass) or not _CAPTION_CLASS.search(klass.lower()):
        return False
    if any(True for _ in element.iter("img", "picture")):
        return False  # a wrapper of the image, not its caption
    parent = element.getparent()
    holder = parent.getparent() if parent is not None and parent.getparent() is not None else parent
    return holder is not None and any(True for _ in holder.iter("img", "picture"))


def _caption_of(image: etree._Element) -> str:
    """The caption beside an image: a child of one of its nearest ancestors (the figure,
    the media box) that is a caption container; only direct children are looked at, so
    a page of many images costs no search through the whole page for each."""
    for level, ancestor in enumerate(image.iterancestors()):
        tag = ancestor.tag
        if tag == "table":
            caption = ancestor.find("caption")
            return _clean("".join(caption.itertext())) if caption is not None else ""
        if tag in ("body", "article", "main", "section") or level >= _CAPTION_LEVELS:
            return ""
        for child in ancestor:
            if isinstance(child.tag, str) and child.tag != "caption" and _is_caption(child):
                return _clean("".join(child.itertext()))
        if tag == "figure":
            return ""
    return ""


def _dimension(value: str | None) -> int | None:
    match = _DIMENSION.match(value) if value else None
    return int(match.group(1)) if match else None
