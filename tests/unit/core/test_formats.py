"""Record checks of every data format, with the field path of each problem."""

from __future__ import annotations

from typing import Any

import pytest

from customizer.families import DataFormat
from customizer.families.formats import Example, RecordError, check_record, evaluation_example

CONV = "bedrock-conversation-2024"


def user(text: Any) -> dict[str, Any]:
    return {"role": "user", "content": [{"text": text}]}


def assistant(text: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": [{"text": text}]}


def conversation(*messages: Any, **extra: Any) -> dict[str, Any]:
    return {"schemaVersion": CONV, "messages": list(messages), **extra}


def claude(*pairs: tuple[str, Any], **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": r, "content": c} for r, c in pairs], **extra}


def assert_record_error(record: object, data_format: DataFormat, field: str, message: str) -> None:
    with pytest.raises(RecordError) as caught:
        check_record(record, data_format)
    assert caught.value.field == field
    assert message in caught.value.message
    assert str(caught.value) == f"{field}: {caught.value.message}"


# ---- good records ----


def test_prompt_completion_record():
    example = check_record({"prompt": "2+2?", "completion": "4"}, DataFormat.PROMPT_COMPLETION)
    assert example == Example(prompt="2+2?", completion="4", system="")


def test_continued_pre_training_record_is_all_completion():
    example = check_record({"input": "Some domain text."}, DataFormat.CONTINUED_PRE_TRAINING)
    assert example == Example(prompt="", completion="Some domain text.")


def test_conversation_record_with_system_and_several_turns():
    record = conversation(
        user("Hi"),
        assistant("Hello"),
        user("Capital of France?"),
        assistant("Paris"),
        system=[{"text": "Be brief."}, {"text": "Be kind."}],
    )
    example = check_record(record, DataFormat.CONVERSATION)
    assert example == Example(prompt="Hi\nHello\nCapital of France?", completion="Paris", system="Be brief.\nBe kind.")


def test_conversation_record_joins_the_text_blocks_of_a_message():
    record = conversation(
        {"role": "user", "content": [{"text": "a"}, {"text": "b"}]},
        assistant("c"),
    )
    assert check_record(record, DataFormat.CONVERSATION) == Example(prompt="a\nb", completion="c")


def test_claude_record_with_system():
    record = claude(("user", "Q"), ("assistant", "A"), system="You answer.")
    assert check_record(record, DataFormat.CLAUDE_MESSAGES) == Example(prompt="Q", completion="A", system="You answer.")


def test_claude_record_without_system():
    record = claude(("user", "Q1"), ("assistant", "A1"), ("user", "Q2"), ("assistant", "A2"))
    assert check_record(record, DataFormat.CLAUDE_MESSAGES) == Example(prompt="Q1\nA1\nQ2", completion="A2")


# ---- bad records ----


@pytest.mark.parametrize("data_format", list(DataFormat))
@pytest.mark.parametrize("record", [[], "text", 3, None])
def test_a_record_must_be_an_object(record, data_format):
    assert_record_error(record, data_format, "(record)", "must be a JSON object")


@pytest.mark.parametrize(
    ("record", "field", "message"),
    [
        ({"completion": "4"}, "prompt", "required key is missing"),
        ({"prompt": "2+2?"}, "completion", "required key is missing"),
        ({"prompt": 4, "completion": "4"}, "prompt", "must be a string, not int"),
        ({"prompt": "q", "completion": ["4"]}, "completion", "must be a string, not list"),
        ({"prompt": "   ", "completion": "4"}, "prompt", "must not be empty"),
        ({"prompt": "q", "completion": ""}, "completion", "must not be empty"),
        ({"prompt": "q", "completion": "a", "label": "x"}, "label", "unknown key; allowed keys: completion, prompt"),
    ],
)
def test_bad_prompt_completion_records(record, field, message):
    assert_record_error(record, DataFormat.PROMPT_COMPLETION, field, message)


@pytest.mark.parametrize(
    ("record", "field", "message"),
    [
        ({}, "input", "required key is missing"),
        ({"input": 7}, "input", "must be a string, not int"),
        ({"input": "\n"}, "input", "must not be empty"),
        ({"input": "x", "prompt": "y"}, "prompt", "unknown key; allowed keys: input"),
    ],
)
def test_bad_continued_pre_training_records(record, field, message):
    assert_record_error(record, DataFormat.CONTINUED_PRE_TRAINING, field, message)


@pytest.mark.parametrize(
    ("record", "field", "message"),
    [
        # "schemaVersion can be any string value" (Nova user guide): a string, or absent; not another type
        (conversation(user("q"), assistant("a"), schemaVersion=2024), "schemaVersion", "must be a string (any value)"),
        (
            conversation(user("q"), assistant("a"), extra=1),
            "extra",
            "unknown key; allowed keys: messages, schemaVersion, system",
        ),
        (conversation(user("q"), assistant("a"), system="Be brief."), "system", "must be a list"),
        (conversation(user("q"), assistant("a"), system=[{"text": ""}]), "system[0].text", "must not be empty"),
        (
            conversation(user("q"), assistant("a"), system=[{"text": "ok"}, {}]),
            "system[1].text",
            "required key is missing",
        ),
        ({"schemaVersion": CONV}, "messages", "at least two messages"),
        (conversation(user("q")), "messages", "at least two messages"),
        ({"schemaVersion": CONV, "messages": "hi"}, "messages", "at least two messages"),
        (conversation(user("q"), "a"), "messages[1]", "must be an object"),
        (conversation(assistant("a"), user("q")), "messages[0].role", "must be 'user'"),
        (conversation(user("q"), user("q2")), "messages[1].role", "must be 'assistant'"),
        (conversation(user("q"), {"content": [{"text": "a"}]}), "messages[1].role", "roles alternate"),
        (conversation({"role": "user", "content": "q"}, assistant("a")), "messages[0].content", "non-empty list"),
        (conversation({"role": "user", "content": []}, assistant("a")), "messages[0].content", "non-empty list"),
        (
            conversation({"role": "user", "content": ["q"]}, assistant("a")),
            "messages[0].content[0]",
            "must be an object",
        ),
        (conversation(user("q"), assistant("  ")), "messages[1].content[0].text", "must not be empty"),
        (conversation(user(5), assistant("a")), "messages[0].content[0].text", "must be a string, not int"),
        (
            conversation(user("q"), {"role": "assistant", "content": [{}]}),
            "messages[1].content[0]",
            "holds one of text, not nothing",
        ),
        (
            conversation(user("q"), assistant("a"), user("q2")),
            "messages[2].role",
            "the last message must be from the assistant",
        ),
    ],
)
def test_bad_conversation_records(record, field, message):
    assert_record_error(record, DataFormat.CONVERSATION, field, message)


@pytest.mark.parametrize(
    ("record", "field", "message"),
    [
        (
            claude(("user", "q"), ("assistant", "a"), schemaVersion=CONV),
            "schemaVersion",
            "unknown key; allowed keys: messages, system",
        ),
        (claude(("user", "q"), ("assistant", "a"), system=""), "system", "must not be empty"),
        (claude(("user", "q"), ("assistant", "a"), system=[{"text": "s"}]), "system", "must be a string, not list"),
        ({}, "messages", "at least two messages"),
        (claude(("user", "q")), "messages", "at least two messages"),
        ({"messages": [{"role": "user", "content": "q"}, 1]}, "messages[1]", "must be an object"),
        (claude(("assistant", "a"), ("user", "q")), "messages[0].role", "must be 'user'"),
        (claude(("user", "q"), ("user", "q")), "messages[1].role", "must be 'assistant'"),
        (claude(("user", [{"text": "q"}]), ("assistant", "a")), "messages[0].content", "must be a string, not list"),
        (claude(("user", "q"), ("assistant", "")), "messages[1].content", "must not be empty"),
        (
            {"messages": [{"role": "user"}, {"role": "assistant", "content": "a"}]},
            "messages[0].content",
            "required key is missing",
        ),
        (
            claude(("user", "q"), ("assistant", "a"), ("user", "q")),
            "messages[2].role",
            "the last message must be from the assistant",
        ),
    ],
)
def test_bad_claude_records(record, field, message):
    assert_record_error(record, DataFormat.CLAUDE_MESSAGES, field, message)


# ---- test-set records ----


@pytest.mark.parametrize("data_format", list(DataFormat))
def test_prompt_completion_test_records_are_accepted_for_every_format(data_format):
    example = evaluation_example({"prompt": "q", "completion": "a"}, data_format)
    assert example == Example(prompt="q", completion="a")


def test_test_records_of_a_continued_pre_training_run_must_be_pairs():
    with pytest.raises(RecordError) as caught:
        evaluation_example({"input": "text"}, DataFormat.CONTINUED_PRE_TRAINING)
    assert caught.value.field == "prompt"
    assert "prompt/completion pairs" in caught.value.message


def test_test_records_in_the_training_format_are_accepted():
    example = evaluation_example(conversation(user("q"), assistant("a")), DataFormat.CONVERSATION)
    assert example == Example(prompt="q", completion="a")


def test_a_test_record_in_the_training_format_is_still_checked():
    with pytest.raises(RecordError) as caught:
        evaluation_example(conversation(user("q")), DataFormat.CONVERSATION)
    assert caught.value.field == "messages"
