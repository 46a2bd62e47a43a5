"""The sheet's words, from the Jinja2 templates in ``templates/``."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from .errors import ConfigError
from .resources import data_dir
from .settings import Settings

PIECES = (
    "header_title", "header_subtitle", "header_url", "intro", "frame_title",
    "label_birth_name", "label_usual_name", "label_first_name", "label_student_number", "label_ine",
    "label_born", "label_born_at", "label_faculty", "label_steps", "label_status", "status_value",
    "label_social_security", "social_security_affiliated", "label_paying_centre", "label_email", "label_login",
    "label_password", "label_password_returning", "returning_password_note",
    "password_hint", "password_hint_grouped", "qr_caption", "frame_notice", "body", "rules_title", "rules", "help",
    "cover_title", "cover_part", "cover_sheets", "cover_date", "cover_notice", "list_title", "list_name",
    "list_identifier", "list_signature",
)  # fmt: skip


@dataclass(frozen=True)
class Wording:
    """The rendered pieces of one language's template: markup for paragraphs, plain text for labels."""

    markup: dict[str, str]
    plain: dict[str, str]

    @classmethod
    def of(cls, markup: dict[str, str]) -> Wording:
        """Both forms of the pieces; the plain one is computed once (labels are drawn on every page)."""
        # The pieces are the template's own escaped output, not outside input.
        return cls(markup, {piece: Markup(text).striptags() for piece, text in markup.items()})  # noqa: S704

    def text(self, piece: str) -> str:
        """A piece as plain text (labels drawn beside student data)."""
        return self.plain[piece]

    def para(self, piece: str) -> str:
        """A piece as paragraph markup."""
        return self.markup[piece].strip()


def template_folders(settings: Settings) -> list[Path]:
    """Where templates are looked up: the university's own folder first, then the shipped one."""
    folders = []
    if settings.sheet.templates:
        folder = Path(settings.sheet.templates).expanduser()
        if not folder.is_absolute() and settings.source is not None:
            folder = settings.source.parent / folder
        if not folder.is_dir():
            raise ConfigError(f"[sheet] templates = {settings.sheet.templates!r}: no such folder ({folder})")
        folders.append(folder)
    return [*folders, data_dir("templates")]


def languages(settings: Settings) -> list[str]:
    """The languages a sheet can be printed in: one ``sheet.<language>.j2`` each."""
    found = {p.name.split(".")[1] for folder in template_folders(settings) for p in folder.glob("sheet.*.j2")}
    return sorted(found)


def template_context(settings: Settings, year_label: str) -> dict[str, object]:
    """The values a template sees, and all it sees: the university, the year, the password rules."""
    u, r = settings.university, settings.password_rules
    return {
        "university": {
            "name": u.name,
            "label": u.label,
            "ent_url": u.ent_url,
            "activation_url": u.activation_url,
            "email_domain": u.email_domain,
        },
        "year": year_label,
        "password_rules": {
            "min_length": r.min_length,
            "recommended_length": r.recommended_length,
            "forbidden": ", ".join(r.forbidden_characters),
        },
    }


def load_wording(settings: Settings, year_label: str, language: str | None = None) -> Wording:
    """Render the template of ``language`` (default ``[sheet] language``) for this university and year.

    A university's own ``[sheet] templates`` folder wins over the shipped one.
    Templates run in Jinja2's sandbox and see only :func:`template_context`.
    Errors, a refused access among them, name the template file and line.
    """
    language = language or settings.sheet.language
    folders = template_folders(settings)
    name = f"sheet.{language}.j2"
    # A template from [sheet] templates is read even by `scolpass check`: in an ordinary environment
    # `cycler.__init__.__globals__.os.system(...)` runs a command. The sandbox refuses every attribute
    # that starts with "_" (and Python's other internals) and calls that change an object.
    env = ImmutableSandboxedEnvironment(
        loader=jinja2.FileSystemLoader(folders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
    )
    # Nor Jinja2's default globals (range, dict, lipsum, cycler, joiner, namespace): no wording needs
    # them, the shipped templates use none, and each is a way out (Python functions, whose globals hold
    # os, behind the sandbox's checks) or a way to spend memory (range, lipsum).
    env.globals.clear()
    path = next((folder / name for folder in folders if (folder / name).is_file()), folders[-1] / name)
    try:
        template = env.get_template(name)
    except jinja2.TemplateNotFound:
        raise ConfigError(f"{path}: template not found for language {language!r}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(f"{exc.filename or path}:{exc.lineno}: template error: {exc.message}") from None
    try:
        module = template.make_module(template_context(settings, year_label))
    except Exception as exc:
        # Whatever a template's expressions raise (a refused access, `1 // 0`, `year + 1`, a macro that
        # calls itself) is the template's fault, to be fixed in it: a configuration error, not a crash.
        # The failing frame runs the compiled template; map its line back to the source.
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == template.filename]
        line = template.get_corresponding_lineno(frames[-1].lineno or 0) if frames else "?"
        raise ConfigError(f"{path}:{line}: template error: {str(exc) or type(exc).__name__}") from None
    missing = [piece for piece in PIECES if not hasattr(module, piece)]
    if missing:
        raise ConfigError(f"{path}: the template does not set {', '.join(missing)}")
    return Wording.of({piece: str(getattr(module, piece)) for piece in PIECES})
