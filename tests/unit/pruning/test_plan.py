"""What a prune plan removes, from hand-made inventories: history, memberships, images, blobs."""

from __future__ import annotations

from dataclasses import replace

from dockyard.pruning.plan import ImageInfo, Inventory, PruneOptions, TagEvent, make_plan

NOW = 10_000.0
OLD = 1_000.0
YOUNG = NOW - 60.0
REPO = "team/app"
OPTIONS = PruneOptions(keep_tag_revisions=1, keep_younger_than=3600.0)


def image(
    digest: str,
    *,
    created: float = OLD,
    blobs: tuple[str, ...] = (),
    children: tuple[str, ...] = (),
    subject: str | None = None,
    managed: bool = True,
) -> ImageInfo:
    return ImageInfo(digest, created, managed, 100, subject, children, blobs)


def inventory(
    images: list[ImageInfo],
    *,
    tags: dict[tuple[str, str], str] | None = None,
    events: list[TagEvent] | None = None,
    members: dict[tuple[str, str], float] | None = None,
) -> Inventory:
    """Every image a member of REPO (old) unless ``members`` says otherwise; every blob an
    image names recorded (old) and linked where its image is a member."""
    found = {info.digest: info for info in images}
    members = {(REPO, d): OLD for d in found} if members is None else members
    links = {
        (repository, blob): OLD
        for repository, digest in members
        for blob in (digest, *found[digest].blobs)
    }
    blobs = {blob: (10, OLD) for _, blob in links}
    return Inventory(tags or {}, events or [], members, found, links, blobs)


def test_history_beyond_the_kept_revisions_goes_with_its_images_and_blobs() -> None:
    inv = inventory(
        [image("sha256:a", blobs=("sha256:la",)), image("sha256:b", blobs=("sha256:lb",))],
        tags={(REPO, "latest"): "sha256:b"},
        events=[
            TagEvent(1, REPO, "latest", "sha256:a", OLD),
            TagEvent(2, REPO, "latest", "sha256:b", OLD),
        ],
    )
    plan = make_plan(inv, OPTIONS, NOW)
    assert [e.id for e in plan.tag_events] == [1]
    assert plan.manifest_links == [(REPO, "sha256:a")]
    assert plan.images == ["sha256:a"]
    assert plan.layer_links == [(REPO, "sha256:la")]  # the manifest's goes with its membership
    assert sorted(d for d, _ in plan.blobs) == ["sha256:a", "sha256:la"]
    assert plan.streams == [REPO]


def test_kept_revisions_and_young_images_stay() -> None:
    events = [
        TagEvent(1, REPO, "latest", "sha256:a", OLD),
        TagEvent(2, REPO, "latest", "sha256:b", YOUNG),
        TagEvent(3, REPO, "latest", "sha256:c", YOUNG),
    ]
    inv = inventory(
        [image("sha256:a"), image("sha256:b"), image("sha256:c")],
        tags={(REPO, "latest"): "sha256:c"},
        events=events,
    )
    plan = make_plan(inv, replace(OPTIONS, keep_tag_revisions=2), NOW)
    assert [e.id for e in plan.tag_events] == [1]
    assert plan.images == ["sha256:a"]
    young = make_plan(inv, replace(OPTIONS, keep_younger_than=NOW - OLD + 1), NOW)
    assert young.tag_events == [] and young.images == [] and young.blobs == []


def test_an_index_keeps_its_children_and_goes_with_them() -> None:
    children = (image("sha256:amd64", blobs=("sha256:l1",)), image("sha256:arm64"))
    index = image("sha256:index", children=("sha256:amd64", "sha256:arm64"))
    tagged = inventory([index, *children], tags={(REPO, "multi"): "sha256:index"})
    assert make_plan(tagged, OPTIONS, NOW).images == []
    untagged = inventory([index, *children])
    plan = make_plan(untagged, OPTIONS, NOW)
    assert plan.images == ["sha256:amd64", "sha256:arm64", "sha256:index"]


def test_referrers_go_with_their_subject_or_are_kept_as_configured() -> None:
    subject = image("sha256:subject")
    signature = image("sha256:sig", subject="sha256:subject")
    tagged = inventory([subject, signature], tags={(REPO, "v1"): "sha256:subject"})
    assert make_plan(tagged, OPTIONS, NOW).images == []
    untagged = inventory([subject, signature])
    assert make_plan(untagged, OPTIONS, NOW).images == ["sha256:sig", "sha256:subject"]
    kept = make_plan(untagged, replace(OPTIONS, keep_referrers=True), NOW)
    assert kept.images == []  # the referrer stays, and it needs its subject


def test_a_tagged_referrer_keeps_its_subject() -> None:
    subject = image("sha256:subject")
    sbom = image("sha256:sbom", subject="sha256:subject")
    inv = inventory([subject, sbom], tags={(REPO, "sbom"): "sha256:sbom"})
    assert make_plan(inv, OPTIONS, NOW).images == []


def test_a_blob_shared_by_two_repositories_survives_one_of_them() -> None:
    shared = ("sha256:shared",)
    inv = inventory(
        [image("sha256:a", blobs=shared), image("sha256:b", blobs=shared)],
        tags={("other/app", "v1"): "sha256:b"},
        members={(REPO, "sha256:a"): OLD, ("other/app", "sha256:b"): OLD},
    )
    plan = make_plan(inv, OPTIONS, NOW)
    assert plan.images == ["sha256:a"]
    assert (REPO, "sha256:shared") in plan.layer_links
    assert "sha256:shared" not in {d for d, _ in plan.blobs}


def test_an_image_in_two_repositories_leaves_only_the_one_that_does_not_keep_it() -> None:
    inv = inventory(
        [image("sha256:a")],
        tags={("other/app", "v1"): "sha256:a"},
        members={(REPO, "sha256:a"): OLD, ("other/app", "sha256:a"): OLD},
    )
    plan = make_plan(inv, OPTIONS, NOW)
    assert plan.manifest_links == [(REPO, "sha256:a")]
    assert plan.images == [] and plan.blobs == []


def test_without_all_only_images_pushed_here_are_candidates() -> None:
    inv = inventory([image("sha256:imported", managed=False), image("sha256:pushed")])
    plan = make_plan(inv, replace(OPTIONS, all=False), NOW)
    assert plan.images == ["sha256:pushed"]


def test_a_young_layer_link_without_a_manifest_stays() -> None:
    inv = inventory([])
    inv.links[(REPO, "sha256:upload")] = YOUNG
    inv.blobs["sha256:upload"] = (10, YOUNG)
    inv.links[(REPO, "sha256:abandoned")] = OLD
    inv.blobs["sha256:abandoned"] = (10, OLD)
    plan = make_plan(inv, OPTIONS, NOW)
    assert plan.layer_links == [(REPO, "sha256:abandoned")]
    assert plan.blobs == [("sha256:abandoned", 10)]
    assert make_plan(inv, replace(OPTIONS, prune_registry=False), NOW).blobs == []


def test_history_of_a_deleted_tag_goes_and_invalid_references_are_reported() -> None:
    inv = inventory(
        [image("sha256:a")],
        tags={(REPO, "broken"): "sha256:missing", (REPO, "kept"): "sha256:a"},
        events=[
            TagEvent(1, REPO, "gone", "sha256:a", OLD),
            TagEvent(2, REPO, "kept", "sha256:collected", YOUNG),
            TagEvent(3, REPO, "kept", "sha256:a", YOUNG),
        ],
        members={},
    )
    plan = make_plan(inv, replace(OPTIONS, keep_tag_revisions=2), NOW)
    assert [e.id for e in plan.tag_events] == [1, 2]  # a dangling entry goes, young or not
    assert plan.images == []  # named by kept history, though in no repository any more
    assert plan.invalid_refs == [f"{REPO}:broken -> sha256:missing"]
