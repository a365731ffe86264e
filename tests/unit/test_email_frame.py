"""tracker.email_frame alone: which of an email's images its frame may load, and the
frame's policy."""

from __future__ import annotations

from tracker.email_frame import MOST_IMAGES, frame_document, frame_policy, image_sources

BASE = "https://t.example"


def test_the_template_s_own_images_are_allowed_and_nothing_of_tracker_s_or_a_pixel() -> None:
    html = (
        '<img src="https://cdn.example/logo.png?v=3" width="120">'
        '<table background="https://cdn.example/bg.jpg"><tr><td'
        " style=\"background-image: url('https://img.example/hero.jpg')\">x</td></tr></table>"
        "<style>.a { background: url(https://img.example/b.png) }</style>"
        f'<img src="{BASE}/o/token.gif">'  # tracker's own pixel
        '<img src="http://127.0.0.1:8080/o/other.gif">'  # tracker, reached by another name
        '<img src="https://ads.example/p.gif" width="1" height="1">'  # another's pixel
        '<img src="data:image/gif;base64,R0lGOD">'
        '<img src="javascript:alert(1)"><img src="https://cdn.example/a b;c.png">'
    )
    assert image_sources(html, (BASE, "http://127.0.0.1:8080")) == [
        "https://cdn.example/logo.png",
        "https://cdn.example/bg.jpg",
        "https://img.example/hero.jpg",
        "https://img.example/b.png",
    ]


def test_at_most_a_hundred_images_are_listed() -> None:
    html = "".join(f'<img src="https://cdn.example/{n}.png">' for n in range(150))
    assert len(image_sources(html, (BASE,))) == MOST_IMAGES


def test_the_frame_keeps_the_links_numbered_and_its_policy_loosens_styles_only() -> None:
    html = '<a href="https://shop.example/" style="color:red">Shop</a><img src="https://cdn.example/l.png">'
    annotated, images = frame_document(html, BASE, ())
    assert 'data-tracker-link="0"' in annotated and images == ["https://cdn.example/l.png"]
    policy = frame_policy(images)
    assert "style-src 'unsafe-inline'" in policy
    assert "img-src https://cdn.example/l.png data:" in policy
    assert "default-src 'none'" in policy and "sandbox allow-same-origin" in policy
    assert "script" not in policy and "allow-scripts" not in policy
