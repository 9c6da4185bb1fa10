"""A small, realistic customer-support data set generated for the demo and the tests (no download, no copy).

Three intents (billing, technical, shipping), written the way customers write: greetings, typos, mixed case, order
numbers, different lengths. Two slice columns (channel, region) make the fairness review meaningful. Deterministic
for a given seed.
"""

from __future__ import annotations

import csv
import io
import random

OPENERS = [
    "",
    "Hi,",
    "Hello team,",
    "hey",
    "Good morning.",
    "Dear support,",
    "URGENT:",
    "Hi there!",
    "Quick question -",
]
CLOSERS = ["", "Thanks.", "thx", "Please help asap.", "Regards, Sam", "Cheers!", "Any update?", "Thank you in advance."]

INTENTS: dict[str, dict[str, list[str]]] = {
    "billing": {
        "core": [
            "I was charged twice for my {plan} subscription this month",
            "my invoice {inv} shows the wrong amount",
            "why did my card get billed {amount} after I cancelled",
            "please refund the {amount} charge from {day}",
            "the {plan} plan price went up without any notice",
            "can I get a copy of invoice {inv} with our VAT number",
            "the payment failed but the money left my account",
            "I need to change the credit card on file before the next billing cycle",
            "there is a duplicate charge of {amount} on my statement",
            "how do I switch from monthly to annual billing on the {plan} plan",
        ],
        "plan": ["Pro", "Basic", "Team", "Enterprise", "family"],
    },
    "technical": {
        "core": [
            "the app crashes every time I open the {screen} screen",
            "I get error {code} when I try to log in",
            "sync stopped working after the {version} update",
            "the page keeps loading forever on {browser}",
            "uploads fail with a timeout for files over {size}",
            "notifications are not arriving on my {device}",
            "the export to CSV produces an empty file",
            "two-factor codes are rejected as invalid",
            "the dashboard shows a blank chart since {day}",
            "the API returns {code} for every request from our server",
        ],
        "screen": ["settings", "reports", "profile", "checkout", "inbox"],
    },
    "shipping": {
        "core": [
            "my order {order} has not arrived yet",
            "the tracking number for {order} does not work",
            "the parcel was delivered to the wrong address",
            "package {order} arrived damaged, the box was crushed",
            "can you ship order {order} to my office instead",
            "it says delivered but I never got order {order}",
            "how long does express delivery to {city} take",
            "one item is missing from order {order}",
            "the courier left a note but nobody rang the bell",
            "I want to change the delivery date for {order} to {day}",
        ],
        "city": ["Berlin", "Lyon", "Austin", "Leeds", "Porto", "Osaka"],
    },
}

FILLS = {
    "inv": lambda r: f"INV-{r.randint(10000, 99999)}",
    "amount": lambda r: r.choice(["$19.99", "€49", "£12.50", "$120", "€7.99"]),
    "day": lambda r: r.choice(["Monday", "last Friday", "yesterday", "the 3rd", "March 14"]),
    "code": lambda r: r.choice(["500", "403", "E1042", "0x80070005", "429"]),
    "version": lambda r: r.choice(["4.2.1", "latest", "v5", "2.9"]),
    "browser": lambda r: r.choice(["Chrome", "Safari", "Firefox", "Edge"]),
    "size": lambda r: r.choice(["10 MB", "2GB", "500mb"]),
    "device": lambda r: r.choice(["iPhone", "Android phone", "iPad", "laptop"]),
    "order": lambda r: f"#{r.randint(100000, 999999)}",
}

CHANNELS = ["email", "chat", "phone"]
REGIONS = ["eu", "us", "apac"]


def _typo(text: str, rng: random.Random) -> str:
    if len(text) < 12 or rng.random() > 0.15:
        return text
    i = rng.randrange(1, len(text) - 2)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def ticket(label: str, rng: random.Random) -> str:
    spec = INTENTS[label]
    body = rng.choice(spec["core"])
    fills = {key: rng.choice(values) for key, values in spec.items() if key != "core"}
    fills.update({key: make(rng) for key, make in FILLS.items()})
    body = body.format(**fills)
    if rng.random() < 0.3:
        body = body.capitalize()
    text = " ".join(
        part for part in (rng.choice(OPENERS), body + rng.choice([".", "!", "", "?"]), rng.choice(CLOSERS)) if part
    )
    return _typo(text, rng)


def rows(n: int = 900, seed: int = 7) -> list[dict[str, str]]:
    rng = random.Random(seed)
    labels = list(INTENTS)
    weights = [0.4, 0.35, 0.25]
    out = []
    for _ in range(n):
        label = rng.choices(labels, weights)[0]
        out.append(
            {"text": ticket(label, rng), "label": label, "channel": rng.choice(CHANNELS), "region": rng.choice(REGIONS)}
        )
    return out


def to_csv(records: list[dict[str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["text", "label", "channel", "region"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue().encode("utf-8")


def support_tickets_csv(n: int = 900, seed: int = 7) -> bytes:
    """The demo data set as CSV bytes with a header: text,label,channel,region."""
    return to_csv(rows(n, seed))
