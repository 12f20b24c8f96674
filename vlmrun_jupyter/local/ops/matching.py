"""Which instruction a prompt asks for, if any.

An instruction is recognised only when the prompt *asks* for it: a request verb with
the instruction's object ("make a PDF from the images", "give me a link"), the
instruction's own verb ("blur the faces", "trim the video"), or a prompt that starts
with its noun phrase ("3D reconstruction of this image"). A word used as a noun in a
statement ("This PDF is a scan", "upload it to a presigned url", "the video shows a
cat") asks for nothing, and the server refuses with the closest supported instruction
instead of guessing. When a prompt asks for several things, the earliest one wins.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

# Words that may sit between a request verb and its object ("make *me a single* PDF").
_DET = (
    r"(?:(?:a|an|the|this|these|those|that|it|its|them|my|our|your|all|each|every|one|single"
    r"|new|me|us|only|just|some)\s+)*"
)
# Up to N modifiers, never a preposition that would make the object belong to another noun
# ("generate a description *of* the video" does not ask for a video).
_NOT_PREP = r"(?!(?:of|about|in|from|for|with|on|and|or|but|is|are|was)\b)"
_STATEMENT = r"(?!\s+(?:is|was|are|were|has|had|contains|shows|looks|seems)\b)"


def asks(verbs: str, objects: str, gap: int = 2) -> str:
    """A request verb, then (after determiners and up to `gap` modifiers) the object."""
    filler = rf"(?:{_NOT_PREP}[\w'-]+\s+){{0,{gap}}}?"
    prep = r"(?:(?:to|into|in|as)\s+)?"
    return rf"\b(?:{verbs})\b\s+{_DET}{filler}{prep}{_DET}(?:{objects})\b"


def verb(words: str) -> str:
    """The instruction's own verb, not used as a noun ("the blur", "a crop")."""
    return rf"(?<!\bthe )(?<!\ba )(?<!\ban )(?<!\bthis )\b(?:{words})\b{_STATEMENT}"


def leads(nouns: str) -> str:
    """A prompt that starts with the noun phrase, as a terse request does."""
    return rf"^\s*(?:please\s+)?(?:(?:a|an|the)\s+)?(?:{nouns})\b{_STATEMENT}"


_MAKE = r"make|create|build|generate|produce|render|compile|assemble|export|save|give me|return|get"
_TURN = r"turn|convert|combine|merge|stitch|put|bundle|join"

NUMBER = r"\d+(?:\.\d+)?"
# A time in a prompt: seconds (`12.5`) or clock form (`mm:ss`, `h:mm:ss`, with decimals).
TIME = r"\d+(?::\d{1,2}){1,2}(?:\.\d+)?|\d+(?:\.\d+)?"


def seconds(text: str) -> float:
    """`"90"`, `"1:30"`, `"00:01:30.5"` -> seconds."""
    total = 0.0
    for part in text.split(":"):
        total = total * 60 + float(part)
    return total


_UNIT = r"\s*(?:s|sec|secs|seconds?)?"
_RANGE = rf"\bfrom\s+(?:{TIME}){_UNIT}\s+(?:to|until|-)\s+(?:{TIME})"


@dataclass(frozen=True)
class Rule:
    """One instruction as the prompt grammar sees it."""

    name: str
    example: str  # what the 422 suggests
    hints: tuple[str, ...]  # words that make this the closest instruction when nothing matched
    pattern: re.Pattern[str]


def _rule(name: str, example: str, hints: str, *patterns: str) -> Rule:
    return Rule(name, example, tuple(hints.split()), re.compile("|".join(patterns), re.M))


RULES: list[Rule] = [
    _rule("try-on", "virtual try-on of the garment (first image) on the person (second image)",
          "try try-on dress garment outfit shirt wear wearing compositing",
          r"\btry[\s-]?on\b",
          r"\b(?:put|composite|compositing|place|dress)\b[^.]{0,60}?\b(?:dress|garment|shirt"
          r"|outfit|clothes|clothing|jacket|top)\b[^.]{0,40}?\bon(?:to)?\s+(?:the\s+)?"
          r"(?:person|model|man|woman|body)\b"),
    _rule("key frames", "extract 5 key frames from the video",
          "frame frames keyframes thumbnail thumbnails still stills",
          asks(r"extract|get|pull|grab|sample|select|pick|take|give me|show me|find|return"
               r"|capture", r"key\s*-?\s*frames?|frames?|thumbnails?|stills?", gap=3),
          leads(r"(?:\d+\s+)?key\s*-?\s*frames?")),
    _rule("extract audio", "extract the audio of the video",
          "audio sound soundtrack track mp3 music",
          asks(r"extract|get|pull|rip|separate|isolate|save|export|give me|return",
               r"audio|sound\s*track|soundtrack|sound")),
    _rule("trim", "trim the video to the first N seconds / from mm:ss to mm:ss",
          "trim cut shorten clip seconds first last",
          verb(r"trim|shorten"),
          r"(?:^|[.!?;,]\s*|\b(?:please|and|then|to|you)\s+)(?:cut|clip)\b" + _STATEMENT,
          asks(r"keep|extract|take|return|give me", rf"(?:first|last)\s+{NUMBER}{_UNIT}"),
          rf"\b(?:keep|extract|take|return|give me)\b[^.]{{0,40}}{_RANGE}"),
    _rule("video from images", "make a video from the images [at N fps]",
          "video slideshow movie animation mp4 fps",
          asks(_MAKE, r"video|slideshow|movie|animation|mp4", gap=3),
          rf"\b(?:{_TURN})\b[^.]{{0,60}}?\b(?:into|to|as)\s+{_DET}(?:video|slideshow|movie)\b"),
    _rule("redact", "redact the document / redact region X,Y,W,H on page P",
          "redact redacted redaction sensitive pii phi confidential black",
          verb(r"redact"), asks(r"black|blank", r"out")),
    _rule("pdf", "make a PDF from the images",
          "pdf pdfs document documents pages",
          asks(_MAKE, r"pdf", gap=3),
          rf"\b(?:{_TURN})\b[^.]{{0,60}}?\b(?:into|to|as)\s+{_DET}pdf\b",
          leads(r"pdf\s+(?:of|from)")),
    _rule("depth", "estimate a depth map of the image",
          "depth distance far near",
          asks(_MAKE + r"|estimate|compute|calculate|predict|extract", r"depth(?:\s+maps?)?"),
          leads(r"depth(?:\s+maps?)?")),
    _rule("mask", "segment the image / make a foreground mask",
          "mask masks segment segmentation foreground background",
          verb(r"segment"),
          asks(_MAKE + r"|compute|predict|extract", r"(?:foreground\s+)?masks?|segmentation"),
          leads(r"(?:foreground\s+)?mask|segmentation")),
    _rule("3d", "make a 3D reconstruction of the image",
          "3d reconstruction reconstruct splat splats gaussian model mesh",
          asks(_MAKE + r"|run|do", r"3d|reconstruction|gaussian\s+splats?|splats?", gap=3),
          verb(r"reconstruct"), leads(r"3d|reconstruction|gaussian\s+splats?|splats?")),
    _rule("blur", "blur the faces / blur the image / blur region X,Y,W,H",
          "blur blurred blurry faces face anonymize privacy",
          r"(?<!\bmotion )" + verb(r"blur")),
    _rule("grayscale", "make the image grayscale",
          "grayscale greyscale gray grey black white monochrome",
          asks(_MAKE + r"|turn|convert|change", r"gr[ae]y\s*-?\s*scale|gr[ae]y|black\s+and\s+white"
               r"|monochrome", gap=3),
          leads(r"gr[ae]y\s*-?\s*scale")),
    _rule("crop", "crop to X,Y,W,H / crop the center",
          "crop cropped cut center region",
          verb(r"crop")),
    _rule("resize", "resize to WxH / resize to width W",
          "resize size scale smaller larger width height thumbnail",
          verb(r"resize|downscale|upscale|shrink|enlarge"),
          r"\bscale\s+(?:it|the|this|down|up|to)\b"),
    _rule("link", "give me a link to the image",
          "link links url urls address href download share presigned",
          asks(r"give me|get me|send me|return|make|create|share|generate|produce|provide"
               r"|i need|i want", r"(?:download\s+|shareable\s+|public\s+)?(?:link|url)s?", gap=3),
          leads(r"(?:a\s+)?(?:download\s+)?(?:link|url)\s+(?:to|for)")),
    _rule("describe", "describe the input",
          "describe description caption summary summarize what",
          verb(r"describe|caption|summari[sz]e"),
          r"^\s*what(?:'s|\s+is|\s+are|\s+does)\b",
          asks(r"give me|write|provide|generate|return", r"description|caption|summary")),
]  # fmt: skip


def find(prompt: str) -> Rule | None:
    """The instruction the prompt asks for (the earliest request in the text), or None."""
    text = prompt.lower()
    best: tuple[int, int, Rule] | None = None
    for order, rule in enumerate(RULES):
        found = rule.pattern.search(text)
        if found and (best is None or (found.start(), order) < best[:2]):
            best = (found.start(), order, rule)
    return best[2] if best else None


def closest(prompt: str) -> Rule:
    """The supported instruction a prompt that matched nothing most resembles."""
    words = re.findall(r"[a-z0-9-]+", prompt.lower())
    scores = [sum(w in rule.hints for w in words) for rule in RULES]
    if max(scores) > 0:
        return RULES[scores.index(max(scores))]
    ratio = [difflib.SequenceMatcher(None, prompt.lower(), rule.example).ratio() for rule in RULES]
    return RULES[ratio.index(max(ratio))]
