#!/usr/bin/python3
"""A loopback LLM server for agora's tests: speaks the OpenAI chat-completions protocol (POST /v1/chat/completions)
and Ollama's (POST /api/chat), validates requests the way the real servers do, and answers from a script, with
faults on demand (latency, HTTP errors with Retry-After, dropped connections, hangs, malformed bodies, refusals).

Usage: llm_server.py --script SCRIPT.json --log LOG.jsonl [--port 0] [--port-file FILE] [--exit-with-parent]

Script:
  {"rules": [{"tag": "minister/step-14", "responses": [R1, R2, ...]}, {"tag": "media/*", "responses": [...]}],
   "default": R, "reject_json_schema": false, "strict_schema_check": true, "keep_alive": "auto",
   "models_status": 200, "models_hang": false}
A request's X-Agora-Tag header picks the rule: an exact tag first, else the first rule (in script order) whose tag
ends with `*` and prefixes it. Each distinct request tag walks its rule's responses in order, the last one repeating.
No rule: `default`; no default: a 200 with content {"reasoning": "default reply", "actions": []}. Requests rejected
by validation (400) consume nothing.

A response R has any of:
  delay_ms           sleep first (applies to every kind below)
  drop: true         close the connection without a byte of response
  hang: true         never answer (sleeps until the server stops; the client must time out)
  status             an HTTP status (429, 500, 503, 400, 401, ...) with the protocol's error body;
                     retry_after adds Retry-After, error_code / error_type / message go into the error body
  raw_body           this exact body (status 200 unless `status` says otherwise)
  refusal            openai: 200, message.content null and message.refusal this text (ollama: sent as content)
  content            200 with this message content (the default kind)
  auto: true         200 with content generated from the request's JSON Schema (openai: response_format.json_schema
                     .schema; ollama: `format` when an object), valid for it and the same for the same request: every
                     property (required or not), arrays of max(minItems, auto_items) items capped by maxItems,
                     const / the first enum value / the first anyOf branch (oneOf: the first that matches no other),
                     a type list's first non-null type, numbers at their lower bound (else 1) within the bounds,
                     false, null, strings "auto <property> <tag>" fitted to minLength / maxLength; local $ref and
                     allOf are followed. No schema in the body (json_object, format "json"): the default reply's
                     content. auto_items: items per array (default 1); auto_text: the text of every string (not of
                     an enum or const). Logged as kind "auto". A schema too big to fill (recursion with no way
                     out): a 500 saying so.
  prompt_tokens, completion_tokens   usage numbers (default: whitespace-separated words in the messages / content)
  headers            extra response headers {name: value}

GET /api/version, /api/tags and /v1/models answer a small listing (200), or the status the script's
"models_status" gives (401, 404, ...), or never with "models_hang": true; they consume nothing of the rules.

Log: one JSON line per request, {"t", "path", "tag", "headers", "body", "response": {"kind", "status"}}; the
authorization header (and api-key headers) is recorded only as its scheme ("Bearer") or "present", never the key.

Keep-alive: libcurl silently re-sends a request once when a *reused* connection closes before any byte of the
reply, so a `drop` served on a reused connection would be invisible to the client (its hidden retry takes the next
response). So by default ("keep_alive": "auto") connections are kept alive only when the script has no `drop`
anywhere; with a drop every reply says Connection: close and each request comes on a fresh connection. true / false
force either way.
"""
import argparse
import datetime
import json
import math
import os
import signal
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_REPLY = {"content": json.dumps({"reasoning": "default reply", "actions": []})}
# GET answers that say a server is up (agora's endpoint check asks one before the first call)
LISTINGS = {
    "/api/version": {"version": "0.0.0-agora-test"},
    "/api/tags": {"models": [{"name": "test-model", "model": "test-model"}]},
    "/v1/models": {"object": "list", "data": [{"id": "test-model", "object": "model", "owned_by": "agora-test"}]},
}
SECRET_HEADERS = ("authorization", "proxy-authorization", "api-key", "x-api-key")
OPENAI_ROLES = ("system", "developer", "user", "assistant", "tool")
OLLAMA_ROLES = ("system", "user", "assistant", "tool")
MAX_BODY = 64 << 20

# The standard error of each status, as the real servers phrase it.
OPENAI_ERRORS = {
    400: ("Bad request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to access this resource.", "invalid_request_error", None),
    404: ("The model does not exist or you do not have access to it.", "invalid_request_error",
          "model_not_found"),
    408: ("Request timed out.", "server_error", None),
    422: ("Unprocessable request.", "invalid_request_error", None),
    429: ("Rate limit reached for requests. Please try again later.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}
QUOTA_MESSAGE = ("You exceeded your current quota, please check your plan and billing details.")


class BadRequest(Exception):
    def __init__(self, message, param=None):
        super().__init__(message)
        self.message = message
        self.param = param


class State:
    """The script, the per-tag cursors, the log and the stop flag, shared by all handler threads."""

    def __init__(self, script, log_file, verbose):
        self.script = script
        self.log_file = log_file
        self.verbose = verbose
        self.lock = threading.Lock()
        self.log_lock = threading.Lock()
        self.cursors = {}
        self.stop = threading.Event()
        self.keep_alive = script.get("keep_alive", "auto")
        if self.keep_alive == "auto":
            scripted = [r for rule in script["rules"] for r in rule["responses"]] + [script.get("default", {})]
            self.keep_alive = not any(r.get("drop") for r in scripted)

    def next_response(self, tag):
        rules = self.script.get("rules", [])
        chosen = None
        if tag is not None:
            for i, rule in enumerate(rules):
                if rule["tag"] == tag:
                    chosen = i
                    break
            if chosen is None:
                for i, rule in enumerate(rules):
                    t = rule["tag"]
                    if t.endswith("*") and tag.startswith(t[:-1]):
                        chosen = i
                        break
        if chosen is None:
            return self.script.get("default", DEFAULT_REPLY)
        responses = rules[chosen]["responses"]
        with self.lock:
            n = self.cursors.get((chosen, tag), 0)
            self.cursors[(chosen, tag)] = n + 1
        return responses[min(n, len(responses) - 1)]

    def log(self, entry):
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self.log_lock:
            if not self.log_file.closed:  # a request racing the shutdown is not logged
                self.log_file.write(line)
                self.log_file.flush()


def words(text):
    return len(text.split()) if isinstance(text, str) else 0


def message_words(messages):
    total = 0
    for m in messages:
        c = m.get("content")
        if isinstance(c, str):
            total += words(c)
        elif isinstance(c, list):
            total += sum(words(p.get("text")) for p in c if isinstance(p, dict))
    return total


def check_messages(messages, roles, allow_parts):
    if not isinstance(messages, list):
        raise BadRequest("'messages' must be an array", "messages")
    if not messages:
        raise BadRequest("'messages' must contain at least one message", "messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise BadRequest(f"messages[{i}] must be an object", f"messages[{i}]")
        if "role" not in m:
            raise BadRequest(f"Missing required parameter: 'messages[{i}].role'.", f"messages[{i}].role")
        if m["role"] not in roles:
            raise BadRequest(f"Invalid value: '{m['role']}'. Supported values are: "
                             + ", ".join(f"'{r}'" for r in roles) + ".", f"messages[{i}].role")
        if "content" not in m:
            raise BadRequest(f"Missing required parameter: 'messages[{i}].content'.", f"messages[{i}].content")
        c = m["content"]
        if not (isinstance(c, str) or (allow_parts and isinstance(c, list))
                or (c is None and m["role"] == "assistant")):
            raise BadRequest(f"Invalid type for 'messages[{i}].content': expected a string.",
                             f"messages[{i}].content")


def check_strict_schema(node, where):
    """OpenAI's strict structured outputs: every object lists all its properties as required and forbids others."""
    if isinstance(node, list):
        for i, n in enumerate(node):
            check_strict_schema(n, f"{where}, {i}")
        return
    if not isinstance(node, dict):
        return
    t = node.get("type")
    is_object = t == "object" or (isinstance(t, list) and "object" in t) or "properties" in node
    if is_object:
        if node.get("additionalProperties") is not False:
            raise BadRequest(f"Invalid schema for response_format: In context=({where}), 'additionalProperties' "
                             "is required to be supplied and to be false.", "response_format")
        props = node.get("properties", {})
        required = node.get("required", [])
        missing = [k for k in props if k not in required]
        if missing:
            raise BadRequest(f"Invalid schema for response_format: In context=({where}), 'required' is required "
                             f"to be supplied and to be an array including every key in properties. Missing "
                             f"'{missing[0]}'.", "response_format")
        for k, v in props.items():
            check_strict_schema(v, f"{where}, 'properties', '{k}'" if where else f"'properties', '{k}'")
    for key in ("items", "anyOf", "oneOf", "allOf", "$defs", "definitions"):
        if key in node:
            sub = node[key]
            if isinstance(sub, dict) and key in ("$defs", "definitions"):
                for k, v in sub.items():
                    check_strict_schema(v, f"{where}, '{key}', '{k}'")
            else:
                check_strict_schema(sub, f"{where}, '{key}'" if where else f"'{key}'")


def check_openai(body, script):
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    if "model" not in body:
        raise BadRequest("you must provide a model parameter", "model")
    if not isinstance(body["model"], str) or not body["model"]:
        raise BadRequest("Invalid type for 'model': expected a non-empty string.", "model")
    if "messages" not in body:
        raise BadRequest("Missing required parameter: 'messages'.", "messages")
    check_messages(body["messages"], OPENAI_ROLES, allow_parts=True)
    if body.get("stream") not in (None, False):
        raise BadRequest("stream: true is not supported by this test server (agora asks without streaming)",
                         "stream")
    if "response_format" in body:
        rf = body["response_format"]
        if not isinstance(rf, dict) or "type" not in rf:
            raise BadRequest("Missing required parameter: 'response_format.type'.", "response_format.type")
        if rf["type"] == "json_object":
            pass
        elif rf["type"] == "json_schema":
            if script.get("reject_json_schema"):
                raise BadRequest("response_format json_schema is not supported", "response_format")
            js = rf.get("json_schema")
            if not isinstance(js, dict):
                raise BadRequest("Missing required parameter: 'response_format.json_schema'.",
                                 "response_format.json_schema")
            name = js.get("name")
            if not isinstance(name, str) or not name or len(name) > 64 or \
                    any(not (ch.isascii() and (ch.isalnum() or ch in "_-")) for ch in name):
                raise BadRequest("Invalid 'response_format.json_schema.name': string does not match pattern. "
                                 "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                                 "response_format.json_schema.name")
            if not isinstance(js.get("schema"), dict):
                raise BadRequest("Missing required parameter: 'response_format.json_schema.schema'.",
                                 "response_format.json_schema.schema")
            if "strict" in js and not isinstance(js["strict"], bool):
                raise BadRequest("Invalid type for 'response_format.json_schema.strict': expected a boolean.",
                                 "response_format.json_schema.strict")
            if js.get("strict") and script.get("strict_schema_check", True):
                check_strict_schema(js["schema"], "")
        else:
            raise BadRequest(f"Invalid value: '{rf['type']}'. Supported values are: 'json_object' and "
                             "'json_schema'.", "response_format.type")
    for key in ("temperature", "top_p"):
        if key in body and (isinstance(body[key], bool) or not isinstance(body[key], (int, float))):
            raise BadRequest(f"Invalid type for '{key}': expected a decimal.", key)
    if "seed" in body and (isinstance(body["seed"], bool) or not isinstance(body["seed"], int)):
        raise BadRequest("Invalid type for 'seed': expected an integer.", "seed")


def check_ollama(body):
    if not isinstance(body, dict):
        raise BadRequest("invalid request body")
    if "model" not in body or not isinstance(body["model"], str) or not body["model"]:
        raise BadRequest("model is required")
    if "messages" not in body:
        raise BadRequest("messages is required")
    check_messages(body["messages"], OLLAMA_ROLES, allow_parts=False)
    if body.get("stream") is not False:
        raise BadRequest("stream must be false: this test server does not stream, and Ollama streams by default")
    if "format" in body and not (body["format"] == "json" or isinstance(body["format"], dict)):
        raise BadRequest("invalid format: expected \"json\" or a JSON schema object")
    if "options" in body and not isinstance(body["options"], dict):
        raise BadRequest("options must be an object")


AUTO_SHALLOW_DEPTH = 24  # deeper than this (a recursive schema): only required properties, minItems items, and
AUTO_MAX_DEPTH = 64      # the anyOf / oneOf branches that need no $ref first
AUTO_BUDGET = 200000     # steps of generation and validation before giving up (a 500 rather than a hang)


class AutoTooBig(Exception):
    pass


def json_same(a, b):
    """JSON equality: 1 == 1.0, but true != 1 and "1" != 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class AutoInstance:
    """Generates, deterministically, a JSON instance valid for a JSON Schema: the first choice everywhere."""

    def __init__(self, root, tag, items=1, text=None):
        self.root = root
        self.tag = tag
        self.items = items
        self.text = text
        self.steps = 0

    def step(self):
        self.steps += 1
        if self.steps > AUTO_BUDGET:
            raise AutoTooBig(f"auto: the schema needs more than {AUTO_BUDGET} steps to fill (a recursive schema "
                             "with no way out?)")

    def needs_ref(self, node, depth=0):
        """Whether every instance of node goes through a $ref (through required properties and minItems)."""
        if not isinstance(node, dict) or depth > 16:
            return False
        if "$ref" in node:
            return True
        if "const" in node or node.get("enum"):
            return False
        if isinstance(node.get("allOf"), list) and any(self.needs_ref(b, depth + 1) for b in node["allOf"]):
            return True
        for key in ("oneOf", "anyOf"):
            if isinstance(node.get(key), list) and node[key] and \
                    all(self.needs_ref(b, depth + 1) for b in node[key]):
                return True
        t = self.type_of(node)
        if t == "object" and isinstance(node.get("properties"), dict) and isinstance(node.get("required"), list):
            return any(self.needs_ref(node["properties"].get(k), depth + 1) for k in node["required"]
                       if isinstance(k, str))
        if t == "array" and is_num(node.get("minItems")) and node["minItems"] > 0:
            return self.needs_ref(node.get("items"), depth + 1)
        return False

    @staticmethod
    def merge(a, b):
        """a's keywords with b's over them; properties merged and required joined (for allOf, $ref and branches)."""
        out = dict(a)
        for k, v in b.items():
            if k == "properties" and isinstance(out.get(k), dict) and isinstance(v, dict):
                out[k] = {**out[k], **v}
            elif k == "required" and isinstance(out.get(k), list) and isinstance(v, list):
                out[k] = out[k] + [x for x in v if x not in out[k]]
            else:
                out[k] = v
        return out

    def pointer(self, ref):
        node = self.root
        for part in ref[1:].split("/")[1:] if ref != "#" else []:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        return node

    def resolve(self, node):
        """node with its local $ref and allOf folded in (shallowly)."""
        seen = set()
        while isinstance(node, dict) and ("$ref" in node or "allOf" in node):
            ref = node.get("$ref")
            if ref is not None:
                target = self.pointer(ref) if isinstance(ref, str) and ref.startswith("#") else None
                rest = {k: v for k, v in node.items() if k != "$ref"}
                if ref in seen or not isinstance(target, dict):
                    node = rest
                else:
                    seen.add(ref)
                    node = self.merge(target, rest)
                continue
            parts = node["allOf"]
            node = {k: v for k, v in node.items() if k != "allOf"}
            for sub in parts if isinstance(parts, list) else []:
                if isinstance(sub, dict):
                    node = self.merge(node, self.resolve(sub))
        return node

    @staticmethod
    def type_of(node):
        t = node.get("type")
        if isinstance(t, list):
            non_null = [x for x in t if x != "null"]
            return non_null[0] if non_null else "null" if t else None
        if isinstance(t, str):
            return t
        if "properties" in node or "required" in node or "additionalProperties" in node:
            return "object"
        if "items" in node or "prefixItems" in node or "minItems" in node or "maxItems" in node:
            return "array"
        if any(k in node for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")):
            return "number"
        return "string"

    def make(self, node, name="", depth=0):
        self.step()
        if node is False or depth > AUTO_MAX_DEPTH:
            return None
        if not isinstance(node, dict):
            node = {}
        node = self.resolve(node)
        if "const" in node:
            return node["const"]
        if isinstance(node.get("enum"), list) and node["enum"]:
            return node["enum"][0]
        for key in ("oneOf", "anyOf"):
            branches = node.get(key)
            if isinstance(branches, list) and branches:
                base = {k: v for k, v in node.items() if k != key}
                if depth >= AUTO_SHALLOW_DEPTH:  # a recursive schema: the branches that can end it first
                    branches = sorted(branches, key=lambda b: self.needs_ref(b))
                first = None
                for i, b in enumerate(branches if key == "oneOf" else branches[:1]):
                    v = self.make(self.merge(base, self.resolve(b) if isinstance(b, dict) else {}), name, depth + 1)
                    if key == "anyOf" or sum(self.valid(x, v) for x in branches) == 1:
                        return v  # oneOf: the first instance that matches exactly one branch
                    first = v if i == 0 else first
                return first
        t = self.type_of(node)
        shallow = depth >= AUTO_SHALLOW_DEPTH
        if t == "object":
            props = node.get("properties") if isinstance(node.get("properties"), dict) else {}
            required = node.get("required") if isinstance(node.get("required"), list) else []
            out = {}
            for k, sub in props.items():
                if not shallow or k in required:
                    out[k] = self.make(sub, k, depth + 1)
            extra = node.get("additionalProperties")
            for k in required:
                if isinstance(k, str) and k not in out:
                    out[k] = self.make(extra if isinstance(extra, dict) else {}, k, depth + 1)
            return out
        if t == "array":
            lo = node.get("minItems") if is_num(node.get("minItems")) else 0
            hi = node.get("maxItems") if is_num(node.get("maxItems")) else None
            n = max(int(lo), 0 if shallow else self.items)
            if hi is not None:
                n = min(n, int(hi))
            prefix = node.get("prefixItems")
            items = node.get("items")
            if isinstance(items, list):  # draft 4-7 tuples
                prefix, items = items, node.get("additionalItems", {})
            prefix = prefix if isinstance(prefix, list) else []
            out = []
            for i in range(n):
                sub = prefix[i] if i < len(prefix) else items if items is not None else {}
                if sub is False:
                    break
                out.append(self.make(sub, name, depth + 1))
            return out
        if t in ("integer", "number"):
            return self.number(node, t == "integer")
        if t == "boolean":
            return False
        if t == "null":
            return None
        return self.string(node, name)

    def string(self, node, name):
        base = self.text if self.text is not None else " ".join(
            x for x in ("auto", name, self.tag) if isinstance(x, str) and x)
        lo = node.get("minLength") if is_num(node.get("minLength")) else 0
        hi = node.get("maxLength") if is_num(node.get("maxLength")) else None
        text = base
        while len(text) < lo:
            text = text + " " + (base or "x") if text else (base or "x")
        if hi is not None:
            text = text[:max(int(hi), 0)]
        return text

    @staticmethod
    def number(node, integer):
        lo = node.get("minimum") if is_num(node.get("minimum")) else None
        hi = node.get("maximum") if is_num(node.get("maximum")) else None
        lo_x = hi_x = False
        em, ex = node.get("exclusiveMinimum"), node.get("exclusiveMaximum")
        if em is True:  # draft 4: a flag on minimum
            lo_x = lo is not None
        elif is_num(em) and (lo is None or em >= lo):
            lo, lo_x = em, True
        if ex is True:
            hi_x = hi is not None
        elif is_num(ex) and (hi is None or ex <= hi):
            hi, hi_x = ex, True
        if integer:
            lo = None if lo is None else math.floor(lo) + 1 if lo_x else math.ceil(lo)
            hi = None if hi is None else math.ceil(hi) - 1 if hi_x else math.floor(hi)
            lo_x = hi_x = False

        def inside(v):
            return (lo is None or (v > lo if lo_x else v >= lo)) and (hi is None or (v < hi if hi_x else v <= hi))

        if lo is not None and not lo_x:
            v = lo
        elif inside(1):
            v = 1
        elif lo is not None:
            v = lo + 1 if inside(lo + 1) else (lo + hi) / 2
        elif hi is not None:
            v = hi if not hi_x else hi - 1
        else:
            v = 1
        m = node.get("multipleOf")
        if is_num(m) and m > 0:
            up, down = math.ceil(v / m) * m, math.floor(v / m) * m
            v = up if inside(up) else down if inside(down) else v
        if integer or (isinstance(v, float) and v.is_integer() and abs(v) < 2 ** 53):
            return int(v)
        return v

    def valid(self, node, v, depth=0):
        """A small validator, enough to tell oneOf's branches apart."""
        self.step()
        if node is True or depth > AUTO_MAX_DEPTH:
            return True
        if node is False:
            return False
        if not isinstance(node, dict):
            return True
        node = self.resolve(node)
        if "const" in node and not json_same(node["const"], v):
            return False
        if isinstance(node.get("enum"), list) and not any(json_same(e, v) for e in node["enum"]):
            return False
        t = node.get("type")
        if t is not None:
            types = t if isinstance(t, list) else [t]
            kinds = {"null": v is None, "boolean": isinstance(v, bool), "object": isinstance(v, dict),
                     "array": isinstance(v, list), "string": isinstance(v, str), "number": is_num(v),
                     "integer": is_num(v) and float(v).is_integer()}
            if not any(kinds.get(x, False) for x in types):
                return False
        if is_num(v):
            checks = (("minimum", lambda b: v >= b), ("maximum", lambda b: v <= b),
                      ("exclusiveMinimum", lambda b: v > b), ("exclusiveMaximum", lambda b: v < b))
            if any(is_num(node.get(k)) and not ok(node[k]) for k, ok in checks):
                return False
            m = node.get("multipleOf")
            if is_num(m) and m > 0 and not (v / m).is_integer():
                return False
        if isinstance(v, str):
            if is_num(node.get("minLength")) and len(v) < node["minLength"]:
                return False
            if is_num(node.get("maxLength")) and len(v) > node["maxLength"]:
                return False
        if isinstance(v, list):
            if is_num(node.get("minItems")) and len(v) < node["minItems"]:
                return False
            if is_num(node.get("maxItems")) and len(v) > node["maxItems"]:
                return False
            if "items" in node and not isinstance(node["items"], list) and \
                    not all(self.valid(node["items"], x, depth + 1) for x in v):
                return False
        if isinstance(v, dict):
            props = node.get("properties") if isinstance(node.get("properties"), dict) else {}
            if any(k not in v for k in node.get("required", []) if isinstance(k, str)):
                return False
            extra = node.get("additionalProperties", True)
            for k, x in v.items():
                if not self.valid(props[k] if k in props else extra, x, depth + 1):
                    return False
        if isinstance(node.get("anyOf"), list) and not any(self.valid(b, v, depth + 1) for b in node["anyOf"]):
            return False
        if isinstance(node.get("oneOf"), list) and sum(self.valid(b, v, depth + 1) for b in node["oneOf"]) != 1:
            return False
        return True


def request_schema(proto, body):
    """The JSON Schema a request asks its reply to follow, or None (json_object, format "json", none at all)."""
    if proto == "openai":
        rf = body.get("response_format")
        if isinstance(rf, dict) and rf.get("type") == "json_schema":
            return rf["json_schema"]["schema"]
        return None
    fmt = body.get("format")
    return fmt if isinstance(fmt, dict) else None


def auto_content(proto, body, r, tag):
    schema = request_schema(proto, body)
    if schema is None:
        return DEFAULT_REPLY["content"]
    gen = AutoInstance(schema, tag, r.get("auto_items", 1), r.get("auto_text"))
    return json.dumps(gen.make(schema), ensure_ascii=False)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "agora-llm-test/1"

    def log_message(self, fmt, *args):
        if self.server.state.verbose:
            super().log_message(fmt, *args)

    def do_POST(self):
        self.route()

    def do_GET(self):
        self.route()

    do_PUT = do_DELETE = do_PATCH = do_GET

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise BadRequest("request body too large")
        return self.rfile.read(n) if n > 0 else b""

    def logged_headers(self):
        out = {}
        for name, value in self.headers.items():
            name = name.lower()
            if name in SECRET_HEADERS:
                parts = value.split(None, 1)
                value = parts[0] if len(parts) == 2 else "present"
            out[name] = out[name] + ", " + value if name in out else value
        return out

    def send(self, status, body, extra=None):
        data = body if isinstance(body, bytes) else body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, str(v))
        if not self.server.state.keep_alive:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def route(self):
        state = self.server.state
        t0 = time.time()
        t0_ns = time.monotonic_ns()
        path = self.path.split("?", 1)[0]
        tag = self.headers.get("X-Agora-Tag")
        entry = {"t": t0, "path": path, "tag": tag, "headers": self.logged_headers(), "body": None,
                 "response": {"kind": "status", "status": None}}
        proto = "openai" if path == "/v1/chat/completions" else "ollama" if path == "/api/chat" else None
        try:
            raw = self.read_body()
            text = raw.decode("utf-8", errors="replace")
            try:
                body = json.loads(text)
                entry["body"] = body
            except ValueError:
                body = None
                entry["body"] = text
            if self.command == "GET" and path in LISTINGS:
                return self.listing(entry, path)
            if proto is None:
                return self.reply_error(entry, "openai" if path.startswith("/v1/") else "ollama", 404,
                                        f"404 page not found: {self.command} {path}")
            if self.command != "POST":
                return self.reply_error(entry, proto, 405, f"method {self.command} not allowed")
            if body is None:
                raise BadRequest("We could not parse the JSON body of your request. (HINT: This likely means "
                                 "you aren't using your HTTP library correctly.)" if proto == "openai"
                                 else "invalid character in request body: not JSON")
            if proto == "openai":
                check_openai(body, state.script)
            else:
                check_ollama(body)
        except BadRequest as e:
            return self.reply_error(entry, proto or "ollama", 400, e.message, param=e.param)

        r = state.next_response(tag)
        kind = ("drop" if r.get("drop") else "hang" if r.get("hang") else "raw" if "raw_body" in r
                else "status" if r.get("status", 200) != 200 else "auto" if r.get("auto")
                else "refusal" if "refusal" in r else "content")
        status = None if kind in ("drop", "hang") else int(r.get("status", 200))
        entry["response"] = {"kind": kind, "status": status}
        content = None
        if kind == "auto":
            try:
                content = auto_content(proto, body, r, tag)
            except AutoTooBig as e:
                entry["response"] = {"kind": kind, "status": 500, "error": str(e)}
                state.log(entry)
                return self.send(500, error_body(proto, 500, {"message": str(e)}))
        state.log(entry)

        if r.get("delay_ms"):
            if state.stop.wait(r["delay_ms"] / 1000.0):
                return self.abandon()
        if kind == "drop":
            return self.abandon()
        if kind == "hang":
            state.stop.wait(3600)
            return self.abandon()
        extra = dict(r.get("headers", {}))
        if "retry_after" in r:
            extra["Retry-After"] = r["retry_after"]
        if kind == "raw":
            return self.send(status, r["raw_body"], extra)
        if kind == "status":
            return self.send(status, error_body(proto, status, r), extra)
        if kind == "content":
            content = r.get("content")
        refusal = r.get("refusal") if kind == "refusal" else None
        if not isinstance(content, (str, type(None))):
            content = json.dumps(content)  # a script may give the reply JSON as an object
        prompt_tokens = r.get("prompt_tokens", message_words(body["messages"]))
        completion_tokens = r.get("completion_tokens", words(content if refusal is None else refusal))
        if proto == "openai":
            reply = {
                "id": "chatcmpl-" + uuid.uuid4().hex[:24],
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [{"index": 0,
                             "message": {"role": "assistant", "content": content, "refusal": refusal},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens},
            }
        else:
            total = max(time.monotonic_ns() - t0_ns, 3)
            load = total // 10
            prompt_eval = total // 5
            reply = {
                "model": body["model"],
                "created_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "message": {"role": "assistant", "content": content if refusal is None else refusal},
                "done": True,
                "done_reason": "stop",
                "total_duration": total,
                "load_duration": load,
                "prompt_eval_count": prompt_tokens,
                "prompt_eval_duration": prompt_eval,
                "eval_count": completion_tokens,
                "eval_duration": total - load - prompt_eval,
            }
        self.send(200, json.dumps(reply), extra)

    def listing(self, entry, path):
        """GET /api/version, /api/tags (Ollama) and /v1/models (OpenAI): what clients ask to see a server is up.
        The script's models_status answers them with that status instead; models_hang never answers."""
        state = self.server.state
        status = int(state.script.get("models_status", 200))
        hang = bool(state.script.get("models_hang"))
        entry["response"] = {"kind": "hang" if hang else "listing", "status": None if hang else status}
        state.log(entry)
        if hang:
            state.stop.wait(3600)
            return self.abandon()
        if status != 200:
            proto = "openai" if path.startswith("/v1/") else "ollama"
            return self.send(status, error_body(proto, status, {}))
        return self.send(200, json.dumps(LISTINGS[path]))

    def reply_error(self, entry, proto, status, message, param=None):
        entry["response"] = {"kind": "status", "status": status, "error": message}
        self.server.state.log(entry)
        if proto == "openai":
            err = {"message": message, "type": "invalid_request_error", "param": param,
                   "code": "unknown_url" if status == 404 else None}
            self.send(status, json.dumps({"error": err}))
        else:
            self.send(status, json.dumps({"error": message}))

    def abandon(self):
        """Closes the connection without a byte of reply."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def error_body(proto, status, r):
    message, etype, code = OPENAI_ERRORS.get(status, (f"HTTP error {status}", "server_error" if status >= 500
                                                      else "invalid_request_error", None))
    if r.get("error_code") == "insufficient_quota":
        message, etype = QUOTA_MESSAGE, "insufficient_quota"
    code = r.get("error_code", code)
    message = r.get("message", message)
    etype = r.get("error_type", etype)
    if proto == "openai":
        return json.dumps({"error": {"message": message, "type": etype, "param": r.get("param"), "code": code}})
    return json.dumps({"error": message})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # bursts of concurrent personas must not overflow the accept queue

    def server_bind(self):
        # HTTPServer.server_bind resolves the host's FQDN, which can stall for seconds without DNS.
        import socketserver
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # the client hung up (it timed out, or a fault closed the connection): nothing to report
        super().handle_error(request, client_address)


def load_script(path):
    with open(path, encoding="utf-8") as f:
        script = json.load(f)
    if not isinstance(script, dict):
        raise ValueError("the script must be a JSON object")
    rules = script.setdefault("rules", [])
    if not isinstance(rules, list):
        raise ValueError("'rules' must be an array")
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict) or not isinstance(rule.get("tag"), str):
            raise ValueError(f"rules[{i}] needs a string 'tag'")
        if not isinstance(rule.get("responses"), list) or not rule["responses"] or \
                not all(isinstance(r, dict) for r in rule["responses"]):
            raise ValueError(f"rules[{i}] needs a non-empty array of response objects")
    if "default" in script and not isinstance(script["default"], dict):
        raise ValueError("'default' must be a response object")
    for r in [r for rule in rules for r in rule["responses"]] + [script.get("default", {})]:
        n = r.get("auto_items", 1)
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError("'auto_items' must be a non-negative integer")
        if not isinstance(r.get("auto_text", ""), str):
            raise ValueError("'auto_text' must be a string")
    if script.get("keep_alive", "auto") not in ("auto", True, False):
        raise ValueError("'keep_alive' must be \"auto\", true or false")
    return script


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--script", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--exit-with-parent", action="store_true",
                    help="stop when the parent process dies (a crashed test must not leave a server behind)")
    ap.add_argument("--verbose", action="store_true", help="log each request on stderr")
    args = ap.parse_args()
    try:
        script = load_script(args.script)
    except (OSError, ValueError) as e:
        print(f"llm_server.py: {args.script}: {e}", file=sys.stderr)
        return 2

    parent = os.getppid()
    with open(args.log, "a", encoding="utf-8") as log_file:
        state = State(script, log_file, args.verbose)
        signal.signal(signal.SIGTERM, lambda *_: state.stop.set())
        signal.signal(signal.SIGINT, lambda *_: state.stop.set())
        server = Server(("127.0.0.1", args.port), Handler)
        server.state = state
        port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        if args.port_file:
            tmp = f"{args.port_file}.tmp{os.getpid()}"
            with open(tmp, "w") as f:
                f.write(f"{port}\n")
            os.replace(tmp, args.port_file)
        print(f"PORT {port}", flush=True)
        while not state.stop.wait(0.2):
            if args.exit_with_parent and os.getppid() != parent:
                break
        state.stop.set()  # wakes the handlers sleeping in a delay or a hang
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
