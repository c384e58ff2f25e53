"""Print the README's settings table from voicechat/settings.py (the one source of truth).

    python scripts/settings_table.py            # print it
    python scripts/settings_table.py --check    # exit 1 if README.md's copy is stale
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voicechat.settings import Settings  # noqa: E402

BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"


def env_name(name: str, field) -> str:  # type: ignore[no-untyped-def]
    alias = field.validation_alias
    if alias is not None and hasattr(alias, "choices"):
        return str(alias.choices[0])
    return f"VOICECHAT_{name.upper()}"


def table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, Path) and default.is_absolute():  # a path inside the checkout
            default = default.relative_to(ROOT)
        shown = "(unset)" if default is None or str(default) in ("", "**********") else f"`{default}`"
        rows.append(f"| `{env_name(name, field)}` | {shown} | {field.description or ''} |")
    return "\n".join(rows)


def main() -> int:
    if "--check" in sys.argv:
        readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
        current = readme.split(BEGIN, 1)[1].split(END, 1)[0].strip() if BEGIN in readme else ""
        if current != table():
            print("README.md settings table is stale: run python scripts/settings_table.py", file=sys.stderr)
            return 1
        return 0
    print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
