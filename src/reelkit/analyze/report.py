"""The analysis report: its JSON schema and its HTML rendering."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

_NUMBER = {"type": "number"}
_BOX = {"type": "array", "items": {"type": "integer"}, "minItems": 4, "maxItems": 4}
_VARIANT = {"type": "object", "required": ["headline", "score", "multiplier", "reason"],
            "properties": {"headline": {"type": "string"}, "score": _NUMBER, "multiplier": _NUMBER,
                           "reason": {"type": "string"}}}

#: JSON Schema (draft 2020-12) of report.json.
REPORT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["reelkit_version", "video", "headline", "overlays", "faces", "thumbnails", "popularity",
                 "headlines", "timings", "files"],
    "properties": {
        "reelkit_version": {"type": "string"},
        "video": {"type": "object", "required": ["path", "name", "width", "height", "fps", "duration"],
                  "properties": {"hdr": {"enum": ["hlg", "pq", None]}}},
        "headline": {"type": ["string", "null"]},
        "overlays": {"type": "array", "items": {
            "type": "object", "required": ["text", "start", "end", "box", "confidence"],
            "properties": {"text": {"type": "string"}, "start": _NUMBER, "end": _NUMBER, "box": _BOX,
                           "edited": {"const": True}}}},  # corrected by hand in the studio
        "faces": {"type": "array", "items": {
            "type": "object", "required": ["time", "box", "emotion"],
            "properties": {"time": _NUMBER, "box": _BOX, "emotion": {"type": ["object", "null"]}}}},
        "thumbnail_note": {"type": ["string", "null"]},  # why there are no thumbnails, when there are none
        "thumbnails": {"type": "array", "items": {
            "type": "object", "required": ["rank", "time", "score", "reason", "scores", "image"],
            "properties": {"rank": {"type": "integer", "minimum": 1}, "time": _NUMBER,
                           "score": {"type": "number", "minimum": 0, "maximum": 1}, "reason": {"type": "string"},
                           "scores": {"type": "object", "additionalProperties": _NUMBER}, "image": {"type": "string"}}}},
        "rejected_candidates": {"type": "object", "additionalProperties": {"type": "integer"}},
        "popularity": {"type": "object", "required": ["score", "most_attended_time", "frames", "model", "images"],
                       "properties": {
                           "score": {"type": "number", "minimum": 0, "maximum": 1},
                           "frames": {"type": "array", "minItems": 1, "items": {
                               "type": "object", "required": ["time", "attention"],
                               "properties": {"time": _NUMBER, "attention": {"type": "number", "minimum": 0, "maximum": 1}}}},
                           "images": {"type": "object", "required": ["gradcam", "attention"]}}},
        "headlines": {"type": "object", "required": ["original", "variants"],
                      "properties": {"original": {"type": ["object", "null"]}, "variants": {"type": "array", "items": _VARIANT}}},
        "timings": {"type": "object", "required": ["total"], "additionalProperties": _NUMBER},
        "files": {"type": "object", "required": ["contact_sheet", "report_html"],
                  "properties": {"contact_sheet": {"type": ["string", "null"]}, "report_html": {"type": "string"},
                                 # the overlay lines as <stem>.json / .srt / .vtt, by format
                                 "overlays": {"type": "object", "additionalProperties": {"type": "string"}}}},
    },
}


def render_html(report: dict[str, Any]) -> str:
    environment = Environment(loader=PackageLoader("reelkit.analyze", "templates"), autoescape=select_autoescape(["html"]))
    return environment.get_template("report.html").render(report=report)
