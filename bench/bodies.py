"""Deterministic, realistic and clean JSON request bodies of an exact size, for the bench.

The body is what an agent sends to an LLM API: a chat-completions-like request with a model,
sampling parameters, tool definitions and a conversation of user, assistant and tool messages
(prose, tool calls with ids and JSON arguments, code and log excerpts returned by tools, numbers).
Nothing in it is a secret or personal data: Glassbreak's inspection must let it through (200),
and must still do the work it does on real traffic (JSON parsing, every string value scanned,
candidates such as ids, hashes and numbers looked at).

``make_body(size)`` returns exactly ``size`` bytes (at least ``MIN_BODY_BYTES``), the same bytes
for the same size on every run; larger bodies are longer conversations, not repeated padding.
"""

from __future__ import annotations

import json
import random
import string

MIN_BODY_BYTES = 2048
SEED = 20240611

_VOCABULARY = (
    "the agent reads build log and proposes patch for failing unit test then asks reviewer to "
    "look at change before it merges into main branch we should retry request with backoff when "
    "upstream times out under load split batch into smaller parts merge results into one report "
    "deployment metrics dashboard alert queue worker database migration schema index query "
    "latency memory profile trace span version release cache config parser handler module "
    "function class method argument return value error warning exception stack frame line file "
    "directory package dependency lockfile compile link bundle minify serve route endpoint "
    "client server response status header payload json yaml toml markdown table column row "
    "because although however therefore meanwhile instead otherwise finally first second next "
    "café naïve résumé façade"  # chat is not all ASCII
)
_WORDS = tuple(_VOCABULARY.split())

_PATHS = (
    "src/app/handlers.py", "src/app/models.py", "src/app/routes/orders.py", "tests/test_orders.py",
    "src/lib/cache.ts", "src/lib/retry.ts", "web/components/Table.tsx", "docs/operations.md",
    "pkg/queue/worker.go", "pkg/queue/worker_test.go", "Makefile", "pyproject.toml",
)
_FUNCS = (
    "load_orders", "apply_discount", "render_table", "flush_cache", "retry_with_backoff",
    "parse_config", "merge_reports", "schedule_job", "validate_schema", "compute_totals",
)
_TOOLS = ("read_file", "run_tests", "search_code", "apply_patch", "list_directory")
_ID_CHARS = string.ascii_letters + string.digits

_CODE_TEMPLATES = (
    "def {f}(self, items, limit=100):\n    \"\"\"Return at most limit items, newest first.\"\"\"\n"
    "    rows = sorted(items, key=lambda row: row.created_at, reverse=True)\n"
    "    return [row.to_dict() for row in rows[:limit]]\n",
    "export async function {f}(req: Request, res: Response): Promise<void> {{\n"
    "  const page = Number(req.query.page ?? 1);\n"
    "  const rows = await db.orders.findMany({{ skip: (page - 1) * 50, take: 50 }});\n"
    "  res.json({{ page, count: rows.length, rows }});\n}}\n",
    "func (w *Worker) {f}(ctx context.Context, job Job) error {{\n"
    "\tfor attempt := 0; attempt < w.maxAttempts; attempt++ {{\n"
    "\t\tif err := w.run(ctx, job); err == nil {{\n\t\t\treturn nil\n\t\t}}\n"
    "\t\ttime.Sleep(w.backoff(attempt))\n\t}}\n\treturn ErrGaveUp\n}}\n",
    "class {F}Test(unittest.TestCase):\n    def test_{f}(self):\n"
    "        result = {f}(make_items(12), limit=5)\n"
    "        self.assertEqual(len(result), 5)\n        self.assertTrue(result[0]['id'] > 0)\n",
)
_LOG_TEMPLATES = (
    "FAILED tests/test_orders.py::test_{f} - AssertionError: assert {a} == {b}",
    "INFO worker[{a}] processed job {b} in {ms} ms (queue depth {c})",
    "WARN cache miss ratio {pct}% over the last {a} requests, consider raising the size",
    "ERROR {f} raised ValueError: expected at most {a} rows, got {b}",
    "PASSED tests/test_orders.py::test_{f} [{pct}%]",
)


class _Maker:
    """Builds messages from a seeded RNG and a pool of sentences (fast enough for 8 MB)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        self.sentences = [
            " ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 18))).capitalize() + "."
            for _ in range(400)
        ]
        self.calls = 0

    def prose(self, sentences: int) -> str:
        return " ".join(self.rng.choice(self.sentences) for _ in range(sentences))

    def call_id(self) -> str:
        return "call_" + "".join(self.rng.choices(_ID_CHARS, k=24))

    def code(self) -> str:
        rng = self.rng
        parts = []
        for _ in range(rng.randint(2, 5)):
            f = rng.choice(_FUNCS)
            parts.append(rng.choice(_CODE_TEMPLATES).format(
                f=f, F="".join(p.capitalize() for p in f.split("_"))))
        return "\n".join(parts)

    def log(self) -> str:
        rng = self.rng
        return "\n".join(
            rng.choice(_LOG_TEMPLATES).format(
                f=rng.choice(_FUNCS), a=rng.randint(1, 999), b=rng.randint(1, 99_999),
                c=rng.randint(0, 500), ms=round(rng.uniform(0.5, 900.0), 1),
                pct=rng.randint(0, 100))
            for _ in range(rng.randint(4, 14))
        )

    def turn(self) -> list[dict[str, object]]:
        """One exchange: a user message, or an assistant tool call and the tool's result."""
        rng = self.rng
        if rng.random() < 0.35:
            role = "user" if rng.random() < 0.6 else "assistant"
            return [{"role": role, "content": self.prose(rng.randint(2, 12))}]
        tool = rng.choice(_TOOLS)
        call_id = self.call_id()
        if tool == "read_file":
            args: dict[str, object] = {"path": rng.choice(_PATHS),
                                       "start_line": (s := rng.randint(1, 400)),
                                       "end_line": s + rng.randint(10, 120)}
            result = self.code()
        elif tool == "run_tests":
            args = {"paths": rng.sample(_PATHS, 2), "verbose": rng.random() < 0.5,
                    "timeout_s": rng.choice((30, 60, 120))}
            result = self.log()
        elif tool == "search_code":
            args = {"query": " ".join(rng.sample(_WORDS, 3)), "max_results": 20}
            result = "\n".join(f"{rng.choice(_PATHS)}:{rng.randint(1, 900)}: "
                               f"{self.prose(1)}" for _ in range(rng.randint(3, 10)))
        elif tool == "apply_patch":
            path = rng.choice(_PATHS)
            args = {"path": path, "patch": f"--- a/{path}\n+++ b/{path}\n@@ -{rng.randint(1, 300)},"
                    f"7 +{rng.randint(1, 300)},8 @@\n" + self.code()}
            result = json.dumps({"applied": True, "hunks": rng.randint(1, 4)})
        else:
            args = {"path": rng.choice(("src", "src/app", "tests", "pkg/queue")), "depth": 2}
            result = "\n".join(rng.sample(_PATHS, 6))
        self.calls += 1
        return [
            {"role": "assistant", "content": None, "tool_calls": [{
                "id": call_id, "type": "function",
                "function": {"name": tool, "arguments": json.dumps(args)}}]},
            {"role": "tool", "tool_call_id": call_id, "content": result},
        ]


def _head(maker: _Maker) -> dict[str, object]:
    rng = maker.rng
    tools = [
        {"type": "function", "function": {
            "name": name, "description": maker.prose(1),
            "parameters": {"type": "object", "properties": {
                "path": {"type": "string", "description": "file path relative to the repository"},
                "limit": {"type": "integer", "minimum": 1, "maximum": 1000}},
                "required": ["path"]}}}
        for name in _TOOLS[:3]
    ]
    return {
        "model": "bench-chat-2024-06-01",
        "temperature": 0.2,
        "top_p": 0.95,
        "max_tokens": 2048,
        "n": 1,
        "stream": False,
        "seed": rng.randint(1, 9999),
        "tool_choice": "auto",
        "tools": tools,
        "metadata": {"conversation": "bench-conversation", "turn": rng.randint(1, 80),
                     "sandbox": "sandbox-7", "prompt_tokens_estimate": rng.randint(100, 9000)},
    }


def make_body(size: int, seed: int = SEED) -> bytes:
    """A chat-completions-like JSON request of exactly ``size`` bytes; deterministic."""
    if size < MIN_BODY_BYTES:
        raise ValueError(f"body size must be at least {MIN_BODY_BYTES} bytes")
    maker = _Maker(seed)
    head = json.dumps(_head(maker), ensure_ascii=False)
    system = {"role": "system", "content": "You are a coding agent working in a sandbox. "
              + maker.prose(3)}
    opening = head[:-1] + ', "messages": ['
    closing = "]}"
    last_prefix, last_suffix = '{"role": "user", "content": "', '"}'
    parts = [json.dumps(system, ensure_ascii=False)]
    used = len(opening.encode()) + len(closing) + len(parts[0].encode())
    fixed_last = len(last_prefix) + len(last_suffix) + 2  # 2: the ", " before it
    bounded_turns = size  # each turn adds at least a byte: a bound on the loop
    for _ in range(bounded_turns):
        turn = [json.dumps(m, ensure_ascii=False) for m in maker.turn()]
        grow = sum(len(t.encode()) + 2 for t in turn)
        if used + grow + fixed_last + 64 > size:
            break
        parts.extend(turn)
        used += grow
    missing = size - used - fixed_last
    if missing < 0:
        raise ValueError(f"body size {size} is too small for the request's fixed part")
    # The last user message fills the body to the exact size, with ASCII prose (1 byte per char).
    fill = ""
    for _ in range(missing):
        if len(fill) >= missing:
            break
        fill += maker.prose(4).encode("ascii", "ignore").decode() + " "
    fill = fill[:missing]
    parts.append(last_prefix + fill + last_suffix)
    body = (opening + ", ".join(parts) + closing).encode()
    if len(body) != size:
        raise AssertionError(f"built {len(body)} bytes, wanted {size}")
    return body


def conversation_bodies(size: int, count: int, seed: int = SEED) -> list[bytes]:
    """``count`` requests of exactly ``size`` bytes from one agent conversation, each one turn on.

    What an agent loop sends: request k holds the request head, the system message, the most
    recent turns that fit (so each request resends most of the previous one's history and adds
    the newest turn: a tool call with a new id and its result), and a last user message of new
    prose that fills it to ``size``. Every request differs from every other, and about a third
    to a half of each is new. Deterministic for a seed; another seed is another conversation.
    """
    if size < MIN_BODY_BYTES:
        raise ValueError(f"body size must be at least {MIN_BODY_BYTES} bytes")
    maker = _Maker(seed)
    head = json.dumps(_head(maker), ensure_ascii=False)
    system = json.dumps({"role": "system", "content": "You are a coding agent working in a "
                         "sandbox. " + maker.prose(3)}, ensure_ascii=False)
    opening = head[:-1] + ', "messages": [' + system
    closing = "]}"
    last_prefix, last_suffix = ', {"role": "user", "content": "', '"}'
    room = size - len(opening.encode()) - len(closing) - len(last_prefix) - len(last_suffix)
    least_fill = 64  # bytes of new prose in every request's last message at least
    turns: list[str] = []  # each turn's messages as JSON, with the ", " before each
    bodies: list[bytes] = []
    for _ in range(4 * count):  # bounded: a turn too big to fit is skipped, and rarely
        if len(bodies) == count:
            break
        turn = ", " + ", ".join(json.dumps(m, ensure_ascii=False) for m in maker.turn())
        if len(turn.encode()) > room - least_fill:
            continue  # a turn too big for the window on its own: the agent's next one
        turns.append(turn)
        window: list[str] = []
        used = 0
        for recent in reversed(turns):
            grow = len(recent.encode())
            if used + grow > room - least_fill:
                break
            window.append(recent)
            used += grow
        del turns[: len(turns) - len(window)]  # older turns never fit again
        missing = room - used
        fill = ""
        for _ in range(missing):
            if len(fill) >= missing:
                break
            fill += maker.prose(4).encode("ascii", "ignore").decode() + " "
        body = (opening + "".join(reversed(window)) + last_prefix + fill[:missing]
                + last_suffix + closing).encode()
        if len(body) != size:
            raise AssertionError(f"built {len(body)} bytes, wanted {size}")
        bodies.append(body)
    return bodies
