"""Server-drawn diagrams: every node and edge label is in the SVG, escaped; linked nodes
are SVG anchors, so the figure works without JavaScript."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from poms_web.diagrams import Edge, Node, around, lineage, stage_neighbours

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # well-formed XML, or this raises


def texts(svg: ET.Element) -> list[str]:
    return [t.text or "" for t in svg.iter(f"{SVG}text")]


def test_nodes_and_labels_are_drawn_escaped_and_linked() -> None:
    svg = parse(
        around(
            Node("reco <b>", None, "current"),
            [Edge(Node("gen & sim", "/stages/1?x=1&y=2"), "%.root")],
            [Edge(Node("merge", "/stages/3")), Edge(Node("ana", None))],
            "Dependencies of reco",
        )
    )
    assert svg.find(f"{SVG}title").text == "Dependencies of reco"  # type: ignore[union-attr]
    assert texts(svg) == ["%.root", "gen & sim", "merge", "ana", "reco <b>"]
    links = [a.get("href") for a in svg.iter(f"{SVG}a")]
    assert links == ["/stages/1?x=1&y=2", "/stages/3"]
    assert len(svg.findall(f"{SVG}line")) == 3


def test_long_labels_are_cut_and_the_whole_text_is_kept_as_a_title() -> None:
    name = "a_very_long_stage_name_that_does_not_fit"
    svg = parse(around(Node(name), [], [], "x"))
    [text] = texts(svg)
    assert text.endswith("…") and len(text) == 22
    titles = [t.text for t in svg.iter(f"{SVG}title")]
    assert name in titles


def test_the_height_grows_with_the_longer_side() -> None:
    one = parse(around(Node("x"), [], [], "x"))
    five = parse(around(Node("x"), [], [Edge(Node(str(n))) for n in range(5)], "x"))
    assert float(five.get("height", 0)) > 4 * float(one.get("height", 0))


def test_lineage_labels_recoveries_and_dependents() -> None:
    def href(sid: int) -> str:
        return f"/submissions/{sid}"

    svg = parse(
        lineage(
            7,
            "reco",
            "Located",
            {"submission_id": 5, "stage": "reco", "status": "Located"},
            True,
            [
                {
                    "submission_id": 9,
                    "stage": "reco",
                    "status": "Running",
                    "recovery_type": "pending_files",
                }
            ],
            [{"submission_id": 11, "stage": "merge", "status": "New"}],
            href,
        )
    )
    assert "recovery pending_…" in texts(svg) and "recovers" in texts(svg)  # cut to fit
    assert "recovery pending_files" in [t.text for t in svg.iter(f"{SVG}title")]
    assert [a.get("href") for a in svg.iter(f"{SVG}a")] == [
        "/submissions/5",
        "/submissions/9",
        "/submissions/11",
    ]
    classes = [g.get("class") for g in svg.iter(f"{SVG}g")]
    assert "node current status-located" in classes and "node status-running" in classes


def test_stage_neighbours_label_edges_with_file_patterns() -> None:
    edge = {"upstream": "gen", "upstream_id": 1, "downstream": "reco", "downstream_id": 2}
    svg = parse(
        stage_neighbours("reco", [{**edge, "file_patterns": "%.root"}], [], lambda s: f"/s/{s}")
    )
    assert texts(svg) == ["%.root", "gen", "reco"]
