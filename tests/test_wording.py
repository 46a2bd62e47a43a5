"""A university's sheet templates are rendered in a sandbox: they can word the sheet, nothing more."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest

from scolpass import ConfigError, Settings
from scolpass.resources import data_dir
from scolpass.wording import PIECES, load_wording, template_context

from .conftest import ROOT, SAMPLES

YEAR = "2026/2027"
SHIPPED = (ROOT / "templates" / "sheet.fr.j2").read_text(encoding="utf-8")


def _own(settings: Settings, folder: Path, extra: str) -> Settings:
    """Settings whose French template is the shipped one plus ``extra``, which runs while it renders."""
    folder.mkdir(exist_ok=True)
    (folder / "sheet.fr.j2").write_text(SHIPPED + "\n" + extra + "\n", encoding="utf-8")
    return dataclasses.replace(settings, sheet=dataclasses.replace(settings.sheet, templates=str(folder)))


# Each would run `touch MARKER` through an ordinary Jinja2 environment (its default globals, Python's
# attributes): the shipped template plus one of these renders fine there, and the command runs.
COMMAND_ESCAPES = {
    "cycler-globals": '{%- set _x = cycler.__init__.__globals__.os.system("touch MARKER") %}',
    "joiner-globals": '{%- set _x = joiner.__init__.__globals__.os.system("touch MARKER") %}',
    "namespace-globals": '{%- set _x = namespace.__init__.__globals__.os.system("touch MARKER") %}',
    "lipsum-globals": '{%- set _x = lipsum.__globals__.os.system("touch MARKER") %}',
    "self-builtins": "{%- set _x = self.__init__.__globals__.__builtins__.__import__('os').system('touch MARKER') %}",
    "subclasses-catch-warnings": (
        "{%- for c in ''.__class__.__mro__[1].__subclasses__() if c.__name__ == 'catch_warnings' %}"
        "{%- set _x = c.__init__.__globals__['sys'].modules['os'].system('touch MARKER') %}{% endfor %}"
    ),
    "attr-filter": (
        "{%- set _x = (self|attr('__init__')|attr('__globals__'))['__builtins__']['__import__']('os')"
        ".system('touch MARKER') %}"
    ),
}

# Each reads what a template has no business reading: Python's internals, a web framework's objects.
READ_ESCAPES = {
    "subclasses": "{%- set _x %}{{ ''.__class__.__mro__[1].__subclasses__() }}{% endset %}",
    "self-globals": "{%- set _x %}{{ self.__init__.__globals__ }}{% endset %}",
    "lipsum-globals": "{%- set _x %}{{ lipsum.__globals__ }}{% endset %}",
    "format-attribute": "{%- set _x %}{{ '{0.__class__.__mro__}'.format(year) }}{% endset %}",
    "template-context": "{%- set _x %}{{ self._TemplateReference__context }}{% endset %}",
    "config": "{%- set _x %}{{ config }}{% endset %}",
    "request": "{%- set _x %}{{ request.environ }}{% endset %}",
    "range-resource": "{%- set _x %}{{ range(10**9)|length }}{% endset %}",
    "dict-global": "{%- set _x %}{{ dict(a=1) }}{% endset %}",
}


# What the sandbox says: an unsafe attribute, a name that is not there, or (through the attr filter,
# which hides the refusal behind an undefined value) an attribute that is not there.
REFUSED = r"mine/sheet\.fr\.j2:\d+: template error: .*(unsafe|undefined|has no attribute)"


@pytest.mark.parametrize("escape", COMMAND_ESCAPES.values(), ids=COMMAND_ESCAPES.keys())
def test_a_template_cannot_run_a_command(settings: Settings, tmp_path: Path, escape: str) -> None:
    marker = tmp_path / "marker"
    own = _own(settings, tmp_path / "mine", escape.replace("MARKER", str(marker)))
    with pytest.raises(ConfigError, match=REFUSED):
        load_wording(own, YEAR)
    assert not marker.exists()


@pytest.mark.parametrize("escape", READ_ESCAPES.values(), ids=READ_ESCAPES.keys())
def test_a_template_cannot_reach_beyond_its_values(settings: Settings, tmp_path: Path, escape: str) -> None:
    own = _own(settings, tmp_path / "mine", escape)
    with pytest.raises(ConfigError, match=REFUSED):
        load_wording(own, YEAR)


def test_the_refusal_names_the_line_and_the_reason(settings: Settings, tmp_path: Path) -> None:
    own = _own(settings, tmp_path / "mine", "{%- set _x %}{{ year.__class__ }}{% endset %}")
    line = SHIPPED.count("\n") + 2
    with pytest.raises(ConfigError) as refused:
        load_wording(own, YEAR)
    assert str(refused.value) == (
        f"{tmp_path / 'mine' / 'sheet.fr.j2'}:{line}: template error: "
        "access to attribute '__class__' of 'str' object is unsafe."
    )


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ("{%- set _x %}{{ 1 // 0 }}{% endset %}", "integer division or modulo by zero"),
        ("{%- set _x %}{{ year + 1 }}{% endset %}", 'can only concatenate str (not "int") to str'),
        ("{%- set _x %}{{ year.index('x') }}{% endset %}", "substring not found"),
        ("{%- macro f() %}{{ f() }}{% endmacro %}{%- set _x %}{{ f() }}{% endset %}", "maximum recursion depth"),
        # 1 EiB: beyond any address space, so refused at once, and MemoryError has no message to show.
        ("{%- set _x %}{{ 'x' * 2**60 }}{% endset %}", "MemoryError"),
    ],
    ids=["zero-division", "type", "value", "recursion", "memory"],
)
def test_any_error_of_a_template_is_a_configuration_error(
    settings: Settings, tmp_path: Path, extra: str, reason: str
) -> None:
    # Python's own errors inside a template's expressions: the template's fault, not a crash of scolpass.
    own = _own(settings, tmp_path / "mine", extra)
    with pytest.raises(ConfigError, match=rf"mine/sheet\.fr\.j2:\d+: template error: {re.escape(reason)}"):
        load_wording(own, YEAR)


def test_what_a_template_may_use_still_works(settings: Settings, tmp_path: Path) -> None:
    """Values, conditions, loops over them, filters, macros: all a wording needs."""
    extra = (
        "{%- macro shout(text) %}{{ text|upper }}{% endmacro %}"
        "{%- set qr_caption %}{{ shout(university.label) }} {{ year|replace('/', '-') }}"
        "{% if password_rules.forbidden %} sauf {{ password_rules.forbidden }}{% endif %}"
        "{% for part in year.split('/') %} [{{ loop.index }}:{{ part }}]{% endfor %}"
        " {{ '%02d'|format(password_rules.min_length) }} {{ ['a', 'b']|join('+') }}{% endset %}"
    )
    wording = load_wording(_own(settings, tmp_path / "mine", extra), YEAR)
    forbidden = ", ".join(settings.password_rules.forbidden_characters)
    rule = f" sauf {forbidden}" if forbidden else ""
    min_length = settings.password_rules.min_length
    expected = f"{settings.university.label.upper()} 2026-2027{rule} [1:2026] [2:2027] {min_length:02d} a+b"
    assert wording.text("qr_caption") == expected


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_shipped_templates_render_as_in_an_ordinary_environment(settings: Settings, language: str) -> None:
    """The sandbox changes nothing for the shipped wording: same pieces, character for character."""
    plain = jinja2.Environment(
        loader=jinja2.FileSystemLoader(data_dir("templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    module = plain.get_template(f"sheet.{language}.j2").make_module(template_context(settings, YEAR))
    assert load_wording(settings, YEAR, language).markup == {piece: str(getattr(module, piece)) for piece in PIECES}


def test_check_refuses_a_hostile_template_in_one_line(tmp_path: Path) -> None:
    """Through the real command line: `scolpass check` reads the templates, so it is where a hostile one runs."""
    marker = tmp_path / "marker"
    (tmp_path / "mine").mkdir()
    escape = '{%- set _x = cycler.__init__.__globals__.os.system("touch ' + str(marker) + '") %}'
    (tmp_path / "mine" / "sheet.fr.j2").write_text(SHIPPED + "\n" + escape + "\n", encoding="utf-8")
    config = tmp_path / "scolpass.toml"
    sample = (SAMPLES / "scolpass.toml").read_text(encoding="utf-8")
    assert "\n[sheet]\n" in sample
    config.write_text(sample.replace("\n[sheet]\n", '\n[sheet]\ntemplates = "mine"\n'), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "scolpass", "check", str(SAMPLES / "enrolment.csv"), "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    # cycler is not there, and the sandbox refuses the attribute asked of what stands in its place.
    assert re.fullmatch(rf"Error: {re.escape(str(tmp_path / 'mine' / 'sheet.fr.j2'))}:{SHIPPED.count(chr(10)) + 2}: "
                        r"template error: .*(unsafe|undefined)\.?", line), line  # fmt: skip
    assert not marker.exists()
