"""Images and videos in fine-tuning records (conversation schema): accepted where the base takes them, refused
at their line and field where it does not, with AWS's rules (Nova user guide and AWS's Nova validator; the
Bedrock user guide for Llama 3.2 Vision)."""

from __future__ import annotations

from typing import Any

import pytest

from customizer.families.base import MediaRef
from tests.unit.validation.corpus import CONV, check, conversation

NOVA_LITE = "amazon.nova-lite-v1:0"
NOVA_MICRO = "amazon.nova-micro-v1:0"
LLAMA_VISION = "meta.llama3-2-11b-instruct-v1:0"
LLAMA_TEXT = "meta.llama3-2-1b-instruct-v1:0"


def image(n: int = 0, fmt: str = "png", uri: str | None = None) -> dict[str, Any]:
    return {"image": {"format": fmt, "source": {"s3Location": {"uri": uri or f"s3://data/images/{n}.{fmt}"}}}}


def video(n: int = 0, fmt: str = "mp4") -> dict[str, Any]:
    return {"video": {"format": fmt, "source": {"s3Location": {"uri": f"s3://data/videos/{n}.{fmt}"}}}}


def with_media(i: int, *blocks: dict[str, Any], answer_blocks: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    record = conversation(i)
    record["messages"][0]["content"] += list(blocks)
    record["messages"][1]["content"] += list(answer_blocks)
    return record


def errors(report: Any) -> list[tuple[str, int | None, str | None, str]]:
    return [(f.kind, f.line, f.field, f.message) for f in report.errors.first(20)]


def test_images_and_a_video_are_accepted_where_the_base_takes_them() -> None:
    records = [with_media(i, image(i), image(i + 100)) for i in range(8)]
    records += [with_media(8, video(8))]
    report = check(records, NOVA_LITE)
    assert report.valid, report.summary()
    report = check([with_media(i, image(i)) for i in range(100)], LLAMA_VISION)
    assert report.valid, report.summary()


def test_media_on_a_text_only_base_is_refused_at_its_line_and_field() -> None:
    records = [conversation(i) for i in range(10)]
    records[3] = with_media(3, image(3))
    report = check(records, NOVA_MICRO)
    assert errors(report) == [
        ("media", 4, "messages[0].content[1].image", "an image, which Nova Micro does not take (takes text only)")
    ]
    records = [conversation(i) for i in range(100)]
    records[0] = with_media(0, video(0))
    assert errors(check(records, LLAMA_VISION)) == [
        (
            "media",
            1,
            "messages[0].content[1].video",
            "a video, which Llama 3.2 11B Instruct does not take (takes image)",
        )
    ]
    records[0] = with_media(0, image(0))
    assert errors(check(records, LLAMA_TEXT))[0][:3] == ("media", 1, "messages[0].content[1].image")


@pytest.mark.parametrize(
    ("record", "field", "message"),
    [
        (
            with_media(0, image(0), video(0)),
            "messages[0].content[2].video",
            "a record holds images or one video, not both",
        ),
        (with_media(0, video(0), video(1)), "messages[0].content[2].video", "more than 1 video in a record"),
        (
            with_media(0, *(image(n) for n in range(11))),
            "messages[0].content[11].image",
            "more than 10 images in a record",
        ),
        (
            with_media(0, answer_blocks=(image(0),)),
            "messages[1].content[1].image",
            "an image in an assistant turn: media go in user turns only",
        ),
        (
            with_media(0, image(0, fmt="bmp")),
            "messages[0].content[1].image.format",
            "'bmp' is not an image format it takes; allowed: gif, jpeg, png, webp",
        ),
        (
            with_media(0, image(0, uri="https://example.com/a.png")),
            "messages[0].content[1].image.source.s3Location.uri",
            "'https://example.com/a.png' is not an s3://bucket/key URI",
        ),
        (
            with_media(0, {"image": {"format": "png"}}),
            "messages[0].content[1].image.source",
            'must be {"s3Location": {"uri": "s3://bucket/key"}}',
        ),
        (
            with_media(0, {"text": "q", "image": image(0)["image"]}),
            "messages[0].content[1]",
            "holds one of image, text, video, not image, text",
        ),
        (
            with_media(0, {"document": {}}),
            "messages[0].content[1].document",
            "unknown key; allowed keys: image, text, video",
        ),
    ],
)
def test_aws_media_rules_are_checked(record: dict[str, Any], field: str, message: str) -> None:
    records = [record, *(conversation(i) for i in range(1, 8))]
    found = errors(check(records, NOVA_LITE))
    assert [(f[1], f[2], f[3]) for f in found] == [(1, field, message)]


def test_schema_version_is_any_string_or_absent() -> None:
    records = [conversation(i) for i in range(8)]
    records[0]["schemaVersion"] = "my-own-version"
    del records[1]["schemaVersion"]
    assert check(records, NOVA_MICRO).valid
    records[2]["schemaVersion"] = 2024
    assert errors(check(records, NOVA_MICRO)) == [
        ("schema_version", 3, "schemaVersion", "must be a string (any value)")
    ]
    assert CONV == "bedrock-conversation-2024"


def test_a_test_example_with_media_is_accepted_and_its_media_named_for_the_pipeline_to_check() -> None:
    training = [conversation(i) for i in range(8)]
    report = check(training, NOVA_LITE, test=[with_media(0, image(0)), with_media(1, video(1))])
    assert report.valid, report.summary()
    assert [uri for *_, uri in report.media] == ["s3://data/images/0.png", "s3://data/videos/1.mp4"]
    # Test-set media do not count as the training data's kinds (Nova 2 Lite's one kind per dataset).
    assert report.media_first == {}
    refused = check(training, NOVA_MICRO, test=[with_media(0, image(0))])
    assert errors(refused) == [
        ("media", 1, "messages[0].content[1].image", "an image, which Nova Micro does not take (takes text only)")
    ]


def test_a_record_names_its_media_for_the_pipeline_to_check() -> None:
    from customizer.families import base_model
    from customizer.families.formats import check_record

    model = base_model(NOVA_LITE)
    example = check_record(with_media(0, image(7, "jpeg")), model.data_format("FINE_TUNING"), model)
    assert example.media == (MediaRef("image", "jpeg", "s3://data/images/7.jpeg", "messages[0].content[1].image"),)
    assert example.prompt == "What is item 0?"


# ---- Claude 3 Haiku: AWS's validator README ----


def test_claude_reserves_human_and_assistant_turn_markers() -> None:
    from tests.unit.validation.corpus import CLAUDE, claude

    records = [claude(i) for i in range(32)]
    records[5]["messages"][1]["content"] = "Sure.\nHuman: and another thing"
    found = errors(check(records, CLAUDE))
    assert [(f[0], f[1], f[2]) for f in found] == [("reserved_string", 6, "messages[1].content")]
    assert "'\\nHuman:'" in found[0][3]


def test_claude_wants_32_to_1000_validation_records_and_10000_in_all() -> None:
    from tests.unit.validation.corpus import CLAUDE, claude

    few = check([claude(i) for i in range(32)], CLAUDE, validation=[claude(i) for i in range(100, 131)])
    assert [(f.kind, f.message) for f in few.errors.first(5)] == [
        ("too_few_records", f"31 records; {CLAUDE} needs at least 32")
    ]
    enough = check([claude(i) for i in range(32)], CLAUDE, validation=[claude(i) for i in range(100, 132)])
    assert enough.valid, enough.summary()


# ---- the pipeline: every image or video named is in the data bucket, and there (HEAD, never read) ----


def test_named_media_outside_the_data_bucket_or_missing_are_errors_at_their_line(s3: Any) -> None:
    from customizer.validation.media import check_media
    from tests.unit.conftest import ARTIFACTS_BUCKET, DATA_BUCKET

    s3.put_object(Bucket=DATA_BUCKET, Key="images/there.png", Body=b"\x89PNG")
    s3.put_object(Bucket=ARTIFACTS_BUCKET, Key="images/elsewhere.png", Body=b"\x89PNG")
    records = [with_media(i, image(uri=f"s3://{DATA_BUCKET}/images/there.png")) for i in range(8)]
    records[2] = with_media(2, image(uri=f"s3://{DATA_BUCKET}/images/missing.png"))
    records[5] = with_media(5, image(uri=f"s3://{ARTIFACTS_BUCKET}/images/elsewhere.png"))
    report = check(records, NOVA_LITE)
    assert report.valid and report.media_total == 8 and len(report.media) == 3  # distinct URIs, each once

    check_media(report, DATA_BUCKET)
    assert errors(report) == [
        (
            "media_missing",
            3,
            "messages[0].content[1].image",
            f"s3://{DATA_BUCKET}/images/missing.png does not exist or cannot be read",
        ),
        (
            "media_missing",
            6,
            "messages[0].content[1].image",
            f"s3://{ARTIFACTS_BUCKET}/images/elsewhere.png is outside the data bucket {DATA_BUCKET}, which is the only bucket the run may read",
        ),
    ]


def test_the_command_line_says_it_did_not_check_the_media(tmp_path: Any, capsys: Any) -> None:
    import json

    from customizer.validation.cli import main
    from tests.unit.validation.corpus import jsonl

    path = tmp_path / "train.jsonl"
    path.write_bytes(jsonl([with_media(i, image(i)) for i in range(8)]))
    assert main([str(path), "--model", NOVA_LITE, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["media_named"] == 8
    assert [w["kind"] for w in report["warnings"]] == ["media_not_checked"]
    assert "give --live and --data-bucket" in report["warnings"][0]["examples"][0]["message"]


def test_the_command_line_checks_the_media_in_the_data_bucket_when_given_it(
    tmp_path: Any, capsys: Any, s3: Any
) -> None:
    import json

    from customizer.validation.cli import main
    from tests.unit.conftest import DATA_BUCKET
    from tests.unit.validation.corpus import jsonl

    s3.put_object(Bucket=DATA_BUCKET, Key="images/there.png", Body=b"\x89PNG")
    records = [with_media(i, image(uri=f"s3://{DATA_BUCKET}/images/there.png")) for i in range(8)]
    records[6] = with_media(6, image(uri=f"s3://{DATA_BUCKET}/images/gone.png"))
    path = tmp_path / "train.jsonl"
    path.write_bytes(jsonl(records))
    args = [str(path), "--model", NOVA_LITE, "--format", "json", "--live", "--data-bucket", DATA_BUCKET]
    assert main(args) == 1  # no --region: Bedrock is not asked (a warning), but the media are checked
    report = json.loads(capsys.readouterr().out)
    assert [(e["kind"], [x["line"] for x in e["examples"]]) for e in report["errors"]] == [("media_missing", [7])]
    assert "media_not_checked" not in [w["kind"] for w in report["warnings"]]


def test_media_larger_than_the_model_takes_are_errors_at_their_line(s3: Any) -> None:
    from customizer.families import base_model
    from customizer.validation.media import check_media
    from tests.unit.conftest import DATA_BUCKET

    limit = 10 * 1024**2
    s3.put_object(Bucket=DATA_BUCKET, Key="images/small.png", Body=b"\x89PNG")
    s3.put_object(Bucket=DATA_BUCKET, Key="images/large.png", Body=b"0" * (limit + 1))
    records = [with_media(i, image(uri=f"s3://{DATA_BUCKET}/images/small.png")) for i in range(8)]
    records[4] = with_media(4, image(uri=f"s3://{DATA_BUCKET}/images/large.png"))
    report = check(records, NOVA_LITE)
    check_media(report, DATA_BUCKET, media=base_model(NOVA_LITE).media)
    assert [(f.kind, f.line, f.field) for f in report.errors.first(5)] == [
        ("media_too_large", 5, "messages[0].content[1].image")
    ]
    assert f"is {limit + 1:,} bytes; Nova Lite takes images of at most {limit:,}" in report.errors.first(1)[0].message
    # Without limits (a family that states none), only existence is checked.
    unlimited = check(records, NOVA_LITE)
    check_media(unlimited, DATA_BUCKET)
    assert unlimited.valid


# ---- Nova 2 Lite: the Bedrock user guide's Nova 2.0 SFT page and AWS's Nova validator ----

NOVA_2_LITE = "amazon.nova-2-lite-v1:0"


def reasoning(text: str = "First, think.") -> dict[str, Any]:
    return {"reasoningContent": {"reasoningText": {"text": text}}}


def nova2(i: int, *answer: dict[str, Any]) -> dict[str, Any]:
    record = conversation(i)
    record["messages"][1]["content"] = [*answer, *record["messages"][1]["content"]]
    return record


def test_nova_2_lite_takes_200_to_20000_records_with_reasoning_in_assistant_turns() -> None:
    records = [nova2(i, reasoning(f"Item {i} needs a look.")) for i in range(200)]
    report = check(records, NOVA_2_LITE)
    assert report.valid, report.summary()
    assert errors(check(records[:199], NOVA_2_LITE)) == [
        ("too_few_records", None, None, f"199 records; {NOVA_2_LITE} needs at least 200")
    ]
    # The context-length id Bedrock lists for customization is the same model.
    assert check(records, f"{NOVA_2_LITE}:256k").valid


@pytest.mark.parametrize(
    ("change", "kind", "field", "message"),
    [
        (
            lambda r: r["messages"][0]["content"].append(reasoning()),
            "role_order",
            "messages[0].content[1].reasoningContent",
            "reasoning content goes in assistant turns only",
        ),
        (
            lambda r: r["messages"][1].update(content=[reasoning()]),
            "empty_text",
            "messages[1].content",
            "an assistant turn needs a text block (its answer), not reasoning alone",
        ),
        (
            lambda r: r["messages"][1]["content"].insert(0, {"reasoningContent": {"redactedContent": "eA=="}}),
            "missing_key",
            "messages[1].content[0].reasoningContent.reasoningText",
            "required key is missing (only text reasoning is trained on)",
        ),
        (
            lambda r: r["messages"][1]["content"].insert(0, reasoning(" ")),
            "empty_text",
            "messages[1].content[0].reasoningContent.reasoningText.text",
            "must not be empty",
        ),
        (
            lambda r: r["messages"][1]["content"].insert(0, reasoning("User: hi")),
            "reserved_string",
            "messages[1].content[0].reasoningContent.reasoningText.text",
            "contains 'User:', a string Nova 2 Lite reserves; reword or remove it",
        ),
    ],
)
def test_nova_2_lite_reasoning_content_out_of_the_rules_is_refused_at_its_field(
    change: Any, kind: str, field: str, message: str
) -> None:
    records = [nova2(i) for i in range(200)]
    change(records[7])
    assert errors(check(records, NOVA_2_LITE)) == [(kind, 8, field, message)]


def test_reasoning_content_on_a_base_not_trained_on_it_is_refused() -> None:
    records = [conversation(i) for i in range(8)]
    records[0] = nova2(0, reasoning())
    assert errors(check(records, NOVA_MICRO)) == [
        (
            "unknown_key",
            1,
            "messages[1].content[0].reasoningContent",
            "reasoning content, which Nova Micro is not trained on",
        )
    ]


def test_reasoning_counts_in_the_record_tokens() -> None:
    plain = check([nova2(i) for i in range(200)], NOVA_2_LITE)
    thinking = check([nova2(i, reasoning("x" * 400)) for i in range(200)], NOVA_2_LITE)
    training = plain.file("training")
    training_thinking = thinking.file("training")
    assert training and training_thinking and training.tokens and training_thinking.tokens
    assert training_thinking.tokens["total"] - training.tokens["total"] >= 200 * 100


def test_nova_2_lite_takes_its_formats_and_images_or_videos_not_both_in_one_dataset() -> None:
    records = [with_media(i, image(i)) for i in range(200)]
    assert check(records, NOVA_2_LITE).valid
    records[3] = with_media(3, image(3, "webp"))
    assert errors(check(records, NOVA_2_LITE))[0][:3] == ("media", 4, "messages[0].content[1].image.format")
    records[3] = with_media(3, image(3))
    records[150] = with_media(150, video(150))
    assert errors(check(records, NOVA_2_LITE)) == [
        (
            "media_mixed",
            151,
            "messages[0].content[1].video",
            "a video, in a dataset that also holds images (train.jsonl line 1): Nova 2 Lite is trained on images "
            "or videos, not both in one dataset (Bedrock user guide)",
        )
    ]
    # Nova Lite (1.0) takes both in one dataset, one kind a record.
    lite = [with_media(i, image(i)) for i in range(8)] + [with_media(8, video(8))]
    assert check(lite, NOVA_LITE).valid


def test_nova_2_lite_refuses_a_validation_file_bedrock_would_not_use() -> None:
    records = [nova2(i) for i in range(200)]
    report = check(records, NOVA_2_LITE, validation=[nova2(i) for i in range(300, 310)])
    assert [(f.kind, f.file) for f in report.errors.first(5)] == [("validation_not_used", "validation.jsonl")]
    assert "remove input.validation_data" in report.errors.first(1)[0].message
