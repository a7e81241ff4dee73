"""The bundled sample dataset: customer-support prompt/completion records for an online shop.

Made deterministically (``python -m offline.sample_data`` rewrites ``offline/sample/``; a test checks the
shipped files equal a fresh generation, and that they hold no duplicate and no leakage). Each intent has many customer phrasings and one house-style
answer whose details depend on the product or the plan, so a model must learn the shop's answers; test
prompts use phrasings and openings kept out of training."""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Callable
from pathlib import Path

SEED = 20261125
OUT = Path(__file__).resolve().parent / "sample"

PRODUCTS = [
    "blender",
    "coffee grinder",
    "desk lamp",
    "rice cooker",
    "toaster",
    "kettle",
    "air fryer",
    "stand mixer",
    "hand vacuum",
    "space heater",
    "humidifier",
    "food processor",
]
PLANS = ["Basic", "Plus", "Family"]
OPENINGS = ["", "Hi, ", "Hello, ", "Hey there, ", "Good morning, ", "Excuse me, ", "Quick question: "]
HELD_OUT_OPENINGS = ["Hi team, ", "Sorry to bother you, "]

# intent -> (phrasings with {product} / {plan}, answer template)
INTENTS: dict[str, tuple[list[str], str]] = {
    "damaged": (
        [
            "my {product} arrived broken",
            "the {product} I got is damaged",
            "my new {product} came cracked",
            "the box was crushed and the {product} is dented",
            "my {product} was smashed in shipping",
            "the {product} arrived in pieces",
        ],
        "I'm sorry your {product} arrived damaged. I've started a free replacement; a prepaid return label "
        "for the damaged {product} is on its way to your e-mail.",
    ),
    "order_status": (
        [
            "where is my {product}",
            "when will my {product} arrive",
            "my {product} order hasn't shown up",
            "can you track my {product} order",
            "has my {product} shipped yet",
            "what's the status of my {product}",
        ],
        "Let me check on your {product}. Could you share your order number? It starts with SH- and is in "
        "your confirmation e-mail.",
    ),
    "refund": (
        [
            "I want a refund for my {product}",
            "can I get my money back for the {product}",
            "please refund the {product}",
            "how do I return my {product} for a refund",
            "I'd like to send back the {product}",
            "refund my {product} order please",
        ],
        "You can return the {product} within 30 days for a full refund. Start the return under Orders > "
        "Return item, and the refund reaches your card 3-5 days after we receive it.",
    ),
    "warranty": (
        [
            "my {product} stopped working after a few months",
            "is my {product} still under warranty",
            "the {product} broke after six months",
            "does the warranty cover my {product}",
            "my {product} won't turn on anymore",
            "the {product} died, can you fix it",
        ],
        "Every {product} has a 2-year warranty. Reply with a photo of the serial label and we'll send a "
        "repair or replacement at no cost.",
    ),
    "subscription_cancel": (
        [
            "how do I cancel my {plan} plan",
            "I want to stop my {plan} subscription",
            "please cancel the {plan} membership",
            "end my {plan} plan",
            "I don't want the {plan} plan anymore",
            "cancel {plan} before the next charge",
        ],
        "I can help with that. Your {plan} plan can be cancelled under Account > Subscriptions; you keep "
        "{plan} benefits until the end of the billing period.",
    ),
    "subscription_upgrade": (
        [
            "can I upgrade to the {plan} plan",
            "how do I switch to {plan}",
            "I'd like the {plan} subscription",
            "move me to the {plan} plan",
            "what does it take to get {plan}",
            "sign me up for {plan}",
        ],
        "Switching to {plan} takes effect right away: go to Account > Subscriptions > Change plan. We "
        "credit what is left of your current plan.",
    ),
    "password": (
        [
            "I forgot my password",
            "I can't log in to my account",
            "reset my password please",
            "my login isn't working",
            "I'm locked out of my account",
            "the password reset e-mail never came",
        ],
        "No problem. Use Forgot password on the sign-in page; the reset link is valid for 30 minutes. "
        "Check your spam folder if it doesn't arrive.",
    ),
    "address": (
        [
            "I need to change my shipping address",
            "can I update the delivery address",
            "I moved, please change my address",
            "ship my order to a different address",
            "the address on my order is wrong",
            "update where my package goes",
        ],
        "You can change the shipping address under Orders > Edit delivery until the order ships. After "
        "that, reply with the new address and we'll redirect it with the carrier.",
    ),
    "payment_failed": (
        [
            "my payment was declined",
            "the card payment keeps failing",
            "why was my card rejected",
            "checkout says payment failed",
            "I can't pay for my order",
            "my payment didn't go through",
        ],
        "Sorry about that. Declines usually come from the bank's fraud check: please confirm the "
        "purchase with your bank, then retry, or pay with PayPal at checkout.",
    ),
    "store_hours": (
        [
            "when is your support open",
            "what are your opening hours",
            "are you open on weekends",
            "what time can I call you",
            "when can I reach an agent",
            "what are your support hours",
        ],
        "Our support team is here Monday to Saturday, 8am to 8pm Eastern. Chat is answered around the "
        "clock by our assistant.",
    ),
    "manual": (
        [
            "where can I find the manual for my {product}",
            "I lost the instructions for the {product}",
            "how do I set up my {product}",
            "is there a guide for the {product}",
            "I need the user manual of the {product}",
            "how do I use the {product}",
        ],
        "The {product} manual is on the product page under Downloads, and a quick-start video is in the "
        "Help Center under Setup guides.",
    ),
    "missing_part": (
        [
            "my {product} is missing a part",
            "the {product} came without the lid",
            "a piece is missing from the {product} box",
            "the {product} is incomplete",
            "there's no power cord with my {product}",
            "parts are missing from my {product} order",
        ],
        "Sorry about the missing part. Tell me which piece of the {product} is missing and we'll ship it "
        "free with 2-day delivery.",
    ),
}


def _all_records(openings: list[str]) -> list[dict[str, str]]:
    """Every distinct record the intents, phrasings, slots and openings make, in a fixed order."""
    records: dict[str, dict[str, str]] = {}
    for intent in sorted(INTENTS):
        phrasings, answer = INTENTS[intent]
        for phrasing in phrasings:
            for product in PRODUCTS:
                for plan in PLANS:
                    slots = {"product": product, "plan": plan}
                    phrase = phrasing.format(**slots)
                    for opening in openings:
                        text = (opening + phrase) if opening else phrase[0].upper() + phrase[1:]
                        prompt = f"Customer: {text}.\nAgent:"
                        records.setdefault(prompt, {"prompt": prompt, "completion": " " + answer.format(**slots)})
    return list(records.values())


def generate() -> dict[str, list[dict[str, str]]]:
    """Training and validation are disjoint draws (no duplicate, no leakage); the test set's prompts open
    with greetings training never uses, so no test prompt appears in training either."""
    rng = random.Random(SEED)
    seen = _all_records(OPENINGS)
    rng.shuffle(seen)
    held_out = _all_records(HELD_OUT_OPENINGS)
    rng.shuffle(held_out)
    return {"train.jsonl": seen[:1200], "validation.jsonl": seen[1200:1350], "test.jsonl": held_out[:150]}


def render(records: list[dict[str, str]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


SYSTEM = "You are a customer support agent."


def as_format(body: bytes, data_format: str, *, test: bool = False) -> bytes:
    """The sample's prompt/completion records in another family's data format (``DataFormat`` values): the
        Bedrock conversation schema (Nova, Llama 3.2), Claude's messages, or continued pre-training's ``input``
        (whose test set stays prompt/completion, as the evaluation reads it), distillation prompts (the conversation
    schema, every other training prompt without its answer), or reinforcement fine-tuning's OpenAI
        chat messages with the answer as ``reference_answer`` (and a ``ticket`` field the data passes through to the
        grader). Any other format: as it is."""
    converted = []
    for number, line in enumerate(body.decode().splitlines(), 1):
        record = json.loads(line)
        prompt, completion = record["prompt"], record["completion"].strip()
        if data_format == "bedrock-conversation-2024":
            record = {
                "schemaVersion": "bedrock-conversation-2024",
                "system": [{"text": SYSTEM}],
                "messages": [
                    {"role": "user", "content": [{"text": prompt}]},
                    {"role": "assistant", "content": [{"text": completion}]},
                ],
            }
        elif data_format == "distillation-prompts":
            # Distillation prompts: the conversation schema; in training, every other prompt without its answer
            # (the teacher writes it); test examples keep theirs (they are scored against it).
            messages = [{"role": "user", "content": [{"text": prompt}]}]
            if test or number % 2:
                messages.append({"role": "assistant", "content": [{"text": completion}]})
            record = {"schemaVersion": "bedrock-conversation-2024", "system": [{"text": SYSTEM}], "messages": messages}
        elif data_format == "claude-messages":
            record = {
                "system": SYSTEM,
                "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}],
            }
        elif data_format == "input" and not test:
            record = {"input": f"{prompt} {completion}"}
        elif data_format == "rft-openai-chat":
            record = {
                "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}],
                "reference_answer": completion,
                "ticket": f"{'test' if test else 'train'}-{number:04d}",
            }
        converted.append(record)
    return render(converted).encode()


LOG_FOLDER = "AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1/2026/12/01/10/"


def as_invocation_logs(
    body: bytes, model_id: str, *, per_object: int = 500, metadata: Callable[[int], dict[str, str]] | None = None
) -> dict[str, bytes]:
    """The sample's prompt/completion records as Bedrock model invocation logs of ``model_id`` answering them
    through Converse (the user guide's record layout, customizer.invocation_logs), in gzip objects of
    ``per_object`` records each under the delivery layout's folder (``LOG_FOLDER``, relative); each record's
    ``requestMetadata`` is ``metadata(index)`` (default: ``{"project": "support"}``)."""
    lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
    records = []
    for index, record in enumerate(lines):
        prompt, completion = record["prompt"], record["completion"].strip()
        records.append(
            {
                "schemaType": "ModelInvocationLog",
                "schemaVersion": "1.0",
                "timestamp": f"2026-12-01T10:{index // 60 % 60:02d}:{index % 60:02d}Z",
                "accountId": "123456789012",
                "identity": {"arn": "arn:aws:sts::123456789012:assumed-role/support-app/session"},
                "region": "us-east-1",
                "requestId": f"00000000-0000-4000-8000-{index:012d}",
                "operation": "Converse",
                "modelId": model_id,
                "input": {
                    "inputContentType": "application/json",
                    "inputBodyJson": {
                        "messages": [{"role": "user", "content": [{"text": prompt}]}],
                        "system": [{"text": SYSTEM}],
                    },
                    "inputTokenCount": len(prompt) // 4 + 1,
                },
                "output": {
                    "outputContentType": "application/json",
                    "outputBodyJson": {
                        "output": {"message": {"role": "assistant", "content": [{"text": completion}]}},
                        "stopReason": "end_turn",
                    },
                    "outputTokenCount": len(completion) // 4 + 1,
                },
                "requestMetadata": metadata(index) if metadata else {"project": "support"},
            }
        )
    objects = {}
    for start in range(0, len(records), per_object):
        part = records[start : start + per_object]
        text = "".join(json.dumps(r) + "\n" for r in part)
        name = f"{LOG_FOLDER}20261201T10{start // per_object:04d}Z_{start:06d}.json.gz"
        objects[name] = gzip.compress(text.encode(), mtime=0)  # deterministic bytes
    return objects


def write(out: Path = OUT) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, records in generate().items():
        (out / name).write_text(render(records), encoding="utf-8")


if __name__ == "__main__":
    write()
    print(f"wrote {', '.join(generate())} to {OUT}")
