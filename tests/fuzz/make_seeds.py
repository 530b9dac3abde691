#!/usr/bin/env python3
"""Writes the seed corpora of request_validation_fuzz and server_config_fuzz.

    tests/fuzz/make_seeds.py    # rewrites tests/fuzz/corpus/<target>/seed_*

The seeds are committed; this script documents how they were made. Protobuf
wire format is encoded by hand (varints and length-delimited fields) so no
generated Python code is needed.
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def varint(n):
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_varint(number, value):
    return varint(number << 3) + varint(value)


def field_bytes(number, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return varint((number << 3) | 2) + varint(len(payload)) + payload


def packed(number, values):
    return field_bytes(number, b"".join(varint(v) for v in values))


def limits(state=0, context=0):
    return field_varint(1, state) + field_varint(2, context)


def sampling(temperature_bits=0, top_k=0, seed=0):
    out = b""
    if temperature_bits:
        out += varint((1 << 3) | 5) + temperature_bits.to_bytes(4, "little")
    return out + field_varint(2, top_k) + field_varint(3, seed)


def generate_request(engine, prompt, max_new, extra=b""):
    return (field_bytes(1, engine) + packed(2, prompt) + field_varint(3, max_new)
            + extra)


def session(*requests):
    return b"".join(varint(len(r)) + r for r in requests)


def open_session(engine, lim=b""):
    return field_bytes(1, field_bytes(1, engine) + field_bytes(2, lim))


def append(tokens):
    return field_bytes(2, packed(1, tokens))


def generate_turn(prompt, max_new, extra=b""):
    return field_bytes(3, packed(1, prompt) + field_varint(2, max_new) + extra)


CLOSE = field_bytes(4, b"")

REQUESTS = {
    "generate_basic": b"\x00" + generate_request("null", [3, 4, 5], 4),
    "generate_unknown_engine": b"\x00" + generate_request("nope", [1], 1),
    "generate_bad_token": b"\x00" + generate_request("null", [1, 64, 2], 2),
    "generate_negative_token": b"\x00" + generate_request("null", [-1], 2),
    "generate_empty_prompt": b"\x00" + generate_request("null", [], 2),
    "generate_too_many_tokens": b"\x00" + generate_request("null", [1], 70000),
    "generate_context_limit": b"\x00" + generate_request(
        "null", list(range(20)), 30, field_bytes(5, limits(context=24))),
    "generate_state_limit": b"\x00" + generate_request(
        "null", list(range(40)), 40, field_bytes(5, limits(state=512))),
    "generate_sampling": b"\x00" + generate_request(
        "null", [7, 8], 6, field_bytes(4, sampling(0x3F800000, 5, 42))),
    "generate_probe": b"\x00" + generate_request(
        "null", [9, 10], 3,
        field_bytes(6, packed(1, [11, 12]) + field_varint(2, 2))),
    "generate_probe_too_long": b"\x00" + generate_request(
        "null", [9], 1, field_bytes(6, packed(1, [1, 2, 3]))),
    "generate_negative_limits": b"\x00" + generate_request(
        "null", [1], 1, field_bytes(5, limits(state=-5))),
    "session_full": b"\x01" + session(
        open_session("null"), append([1, 2, 3, 4]), generate_turn([5], 3),
        generate_turn([], 2), CLOSE),
    "session_limits": b"\x01" + session(
        open_session("null", limits(context=16)), append(list(range(10))),
        generate_turn([1], 20)),
    "session_no_open": b"\x01" + session(append([1]), generate_turn([2], 1)),
    "session_double_open": b"\x01" + session(
        open_session("null"), open_session("null")),
    "session_bad_append": b"\x01" + session(
        open_session("null"), append([]), append([99])),
    "session_big_budget": b"\x01" + session(
        open_session("null"), append(list(range(60)) * 40),
        generate_turn([1], 50)),
    "session_empty_request": b"\x01" + session(open_session("null"), b""),
}

CONFIGS = {
    "config_null": 'engines { name: "n" family: "null" knobs { key: "vocab" '
                   'value: "64" } state_budget_bytes: 65536 }\n',
    "config_two": 'engines { family: "null" }\n'
                  'engines { name: "sw64" family: "sliding_window" '
                  'knobs { key: "window" value: "64" } }\n',
    "config_bad_knob": 'engines { family: "null" knobs { key: "vocab" '
                       'value: "1" } }\n',
    "config_unknown_knob": 'engines { family: "null" knobs { key: "x" '
                           'value: "y" } }\n',
    "config_negative_budget": 'engines { family: "null" '
                              'state_budget_bytes: -1 }\n',
    "config_no_family": 'engines { name: "a" }\n',
    "config_empty": "",
    "config_syntax_error": 'engines { name: "a" family: \n',
    "config_unknown_field": 'engines { family: "null" colour: 3 }\n',
    "config_comments": '# hosted engines\nengines {\n  name: "a" # x\n'
                       '  family: "null"\n}\n',
}


def write(target, seeds):
    directory = os.path.join(HERE, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    for name, data in seeds.items():
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(directory, "seed_" + name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("request_validation_fuzz", REQUESTS)
    write("server_config_fuzz", CONFIGS)
