r"""Patient identity must never enter a declaration (R1413-80).

Two things are looked for in every free text (rules v2, docs/rules.md "Anonymity"):

- a French social-security number (NIR): 13 characters (sex, year, month, département,
  commune, order) with or without its 2-digit key; 2A/2B allowed as the département; any run
  of Unicode spaces (non-breaking and narrow included), dots, dashes or slashes between the
  groups; letters may be glued before it. With the key, the key must check (so other long
  numbers pass; two digits that are not the key and begin an age or a date leave the 13
  characters alone); without it, the 13 characters must form a plausible NIR (sex
  1/2/3/4/7/8, month 01-12 or 20-99, a département, a commune and an order number that are
  not zero).
- a date of birth: a date (dd/mm/yyyy, dd.mm.yy, d month yyyy, yyyy-mm-dd...) announced as
  one: "né le", "née le", "né(e) le", "né-e le", "né à X le", "né à X, le", "date de naissance
  (du patient) :", "DDN", "DN", "DOB", "born", or followed by "(date de naissance)" / "(DDN)".

No pattern backtracks without end on a hostile text: an optional character between two runs of
spaces is written `\s*(?:[:=]\s*)?`, never `\s*[:=]?\s*` (which tries every split).

Ordinary clinical text passes: onset and sampling dates, unit phone numbers, lot and product
codes, FINESS and RPPS numbers, dosages (tests/corpus/ holds the texts that prove it).
"""

from __future__ import annotations

import functools
import re
import unicodedata

from schemas.organisms import fold

# -- NIR -------------------------------------------------------------------------------------

# Any run of separators between two groups: Unicode spaces (\s covers U+00A0 and U+202F),
# dots, slashes, commas, underscores, middle dots, stars and every dash (invisible characters
# are removed before: `as_read`).
_SEP = r"[\s./,_·*\-\u2010-\u2015\u2212]*"
_NIR = re.compile(
    r"(?<![0-9])"
    rf"(?P<sex>[1-478]){_SEP}(?P<year>[0-9]{{2}}){_SEP}(?P<month>[0-9]{{2}}){_SEP}"
    rf"(?P<dep>[0-9]{{2}}|2[ABab]){_SEP}(?P<commune>[0-9]{{3}}){_SEP}(?P<order>[0-9]{{3}})"
    rf"(?:{_SEP}(?P<key>[0-9]{{2}})(?![0-9]))?"
)
# A product or lot code announced as such shortly before, written as one run of 13 digits
# (as barcodes are), is not read as a NIR without key: GTIN/EAN-13 and CIP13 codes are 13
# digits too (matched on folded text). A number written in groups is read as a NIR whatever
# precedes it: "Code postal 69003, patient 1 85 05 75 123 456" is one. So is a run of 13
# digits when a word of identity (NIR, sécu, Vitale, patient...) or a new clause (";")
# stands between the label and it: "Lot de cathéters changé, NIR 1850575123456".
_CODE_LABEL = re.compile(
    r"\b(?:gtin|ean|ean13|cip|cip13|ucd|udi|iud|ref|reference|lot|serie|serial|barres?)\b"
)
_NOT_A_PRODUCT = re.compile(
    r"\b(?:nir|secu|securite|sociale|ssn|ins|insee|matricule|immatriculation|vitale|"
    r"patiente?s?|assuree?s?|residente?s?|dossier|cas)\b|[;!?]"
)
# After two digits read as a key that does not check, what shows they begin something else (an
# age, a duration, a date): "1 85 05 75 123 456 12 ans", "… 045 12/11/2026". The 13
# characters before them are then read alone, as a NIR without key.
_NOT_A_KEY = re.compile(r"\s*[^\W\d_]|[/.\-\u2010-\u2015][0-9]")


def _thirteen(m: re.Match[str]) -> str:
    dep = m["dep"].upper().replace("2A", "19").replace("2B", "18")
    return m["sex"] + m["year"] + m["month"] + dep + m["commune"] + m["order"]


def _key_checks(m: re.Match[str]) -> bool:
    return 97 - int(_thirteen(m)) % 97 == int(m["key"])


def _plausible(m: re.Match[str]) -> bool:
    month = int(m["month"])
    return (
        (1 <= month <= 12 or month >= 20)
        and m["dep"] != "00"
        and m["commune"] != "000"
        and m["order"] != "000"
    )


def _a_labelled_code(text: str, m: re.Match[str]) -> bool:
    """13 digits in one run with a product or lot code's label before them on the line, and
    nothing between that says whose number it is."""
    start = m.start()
    if m.end("order") - start != 13:
        return False
    line_start = text.rfind("\n", 0, start) + 1
    before = fold(text[max(line_start, start - 40) : start])
    labels = list(_CODE_LABEL.finditer(before))
    return bool(labels) and _NOT_A_PRODUCT.search(before, labels[-1].end()) is None


def _key_starts_something_else(text: str, m: re.Match[str]) -> bool:
    """The two digits after the 13 are set apart from them, and an age, a duration or a date
    goes on after them: they are not a key."""
    return m.start("key") > m.end("order") and _NOT_A_KEY.match(text, m.end()) is not None


_NOT_DIGITS = re.compile(r"[^0-9]+")


# Characters that show nothing, and would split a number or a word for a pattern but not for
# a reader: zero-width spaces and joiners, word joiner, byte-order mark, soft hyphen, Mongolian
# vowel separator.
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e]")


_DIGITS = re.compile(r"\d+")  # every script's decimal digits


def _ascii_digits(m: re.Match[str]) -> str:
    return "".join(str(unicodedata.digit(c)) for c in m.group())


@functools.lru_cache(maxsize=1024)  # each text is read by three checks
def as_read(text: str) -> str:
    """A text as a reader reads it, for the identity checks: compatibility forms folded
    (fullwidth "１８５", "Ｄｒ", superscripts: NFKC), invisible characters removed, and the
    digits of every script written as ASCII ("١٨٥" -> "185"). ASCII text is itself."""
    if text.isascii():
        return text
    folded = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    if all(run.isascii() for run in _DIGITS.findall(folded)):
        return folded
    return _DIGITS.sub(_ascii_digits, folded)


def contains_nir(text: str) -> bool:
    """A social-security number, with a key that checks or without key but plausible; read as
    a reader reads it (`as_read`)."""
    text = as_read(text)
    # A NIR holds 12 digits at least (13 with a 2A/2B département's letter): texts with fewer
    # are passed at C speed, without trying the pattern at every character.
    if len(_NOT_DIGITS.sub("", text)) < 12:
        return False
    for m in _NIR.finditer(text):
        if m["key"] is not None:
            # With a key, the key must check: other long numbers pass.
            if _key_checks(m):
                return True
            if not _key_starts_something_else(text, m):
                continue
        elif text[m.end() : m.end() + 1].isdigit():
            continue  # 14 digits or more in a row: another number
        if _plausible(m) and not _a_labelled_code(text, m):
            return True
    return False


# -- dates of birth --------------------------------------------------------------------------

_MONTHS_FR = (
    r"janvier|janv|f[ée]vrier|f[ée]vr?|mars|avril|avr|mai|juin|juillet|juil|ao[ûu]t|"
    r"septembre|sept|octobre|oct|novembre|nov|d[ée]cembre|d[ée]c"
)
_MONTHS_EN = (
    r"january|jan|february|feb|march|mar|april|apr|may|june|jun|july|jul|august|aug|"
    r"september|sep|october|november|december"
)
_WEEKDAY = r"(?:(?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)\s+)?"
_DATE = (
    r"(?:"
    # dd/mm/yyyy, dd.mm.yy, dd-mm-yyyy (separators may be spaced)
    r"[0-9]{1,2}\s*[/.\-]\s*[0-9]{1,2}\s*[/.\-]\s*(?:[0-9]{4}|[0-9]{2})(?![0-9])"
    # yyyy-mm-dd, yyyy/mm/dd
    r"|[0-9]{4}\s*[/.\-]\s*[0-9]{1,2}\s*[/.\-]\s*[0-9]{1,2}(?![0-9])"
    # 3 mars 1945, 1er mars 1945, 3 March 1945
    rf"|(?:1\s*er|[0-9]{{1,2}})\s+(?:{_MONTHS_FR}|{_MONTHS_EN})\.?\s+[0-9]{{4}}"
    # March 3, 1945
    rf"|(?:{_MONTHS_EN})\.?\s+[0-9]{{1,2}},?\s+[0-9]{{4}}"
    r")"
)
# "né", "née", "nés", "né(e)", "né-e", "né·e", unaccented "ne"/"nee"; not the "né" of
# "nouveau-né"/"mort-né" (with any hyphen).
_BORN_FR = (
    r"(?<!nouveau-)(?<!nouveau\u2010)(?<!nouveau\u2011)(?<!nouveau )"
    r"(?<!mort-)(?<!mort\u2010)(?<!mort\u2011)"
    r"\bn[ée]e?s?(?:\s*\(\s*(?:(?:es?|s)\s*)?\)|[-\u2010\u2011·.]e\b)?"
)
# Where "né à X le" was born: up to eight words of a place, not the course of a stay ("né à
# 32 SA hospitalisé le", "né à terme, transféré le"): no number but a département in brackets
# or an arrondissement, and no participle (a word ending in é, or admis, pris, sorti, suivi,
# vu) unless it is capitalised as a place is ("Vitré", "Thorigné-Fouillard", "Pré").
_PLACE_WORD = (
    r"(?:\((?:[0-9]{2,3}|2[ab])\)"  # its département: "né à Saint-Denis (974) le"
    r"|\((?-i:[A-ZÀ-ÖØ-Þ])[^()0-9]{0,40}\)"  # its island or département named: "(La Réunion)"
    r"|[0-9]{1,2}(?:e|er|ème|eme)"  # its arrondissement: "né à Paris 15e le", "Lyon 1er"
    r"|(?-i:[A-ZÀ-ÖØ-Þ])[^\W\d_]*"  # a capitalised word: "né à Vitré le"
    r"|(?!(?:admise?s?|prise?s?|sortie?s?|suivie?s?|vue?s?)\b)"
    r"[^\W\d_]+(?<!é)(?<!ée)(?<!és)(?<!ées))(?=[\s,'’\-\u2010-\u2015])"
)
_BIRTHPLACE = rf"(?:{_PLACE_WORD}[\s,'’\-\u2010-\u2015]+){{1,8}}?"
# "date de naissance du patient", "(de la résidente)", "des cas": whose date it is, no more.
# In brackets the article may go: "(patient)", "(résidente)".
_OF_WHOM = r"(?:du|de\s+la|de\s+l['’]\s*|des)\s*"
_WHOSE = (
    rf"(?:\s*\(\s*(?:{_OF_WHOM})?[^\W\d_]+(?:\s+[^\W\d_]+)?\s*\)"
    rf"|\s*{_OF_WHOM}[^\W\d_]+(?:\s+[^\W\d_]+)?)?"
)
# "DDN : ", "DDN – ", "DDN (", "DDN, ", "DDN : le "
_SAYS = r"\s*(?:[:=,\-\u2010-\u2015(]\s*)?(?:le\s+)?"
_ANNOUNCED = re.compile(
    r"(?:"
    # né le 3 mars 1945; né à Lyon le 3 mars 1945; né(e) le : 03/03/1945; née le - 03/03/1945
    rf"{_BORN_FR}(?:\s+(?:à|a|au|aux|en)\s+{_BIRTHPLACE}|,?\s+)le\s*(?:[:,\-\u2010-\u2015]\s*)?"
    # date de naissance : ...; date de naissance (du patient) : ...; naissance le ...
    rf"|\bdate\s+de\s+naissance\b{_WHOSE}{_SAYS}"
    r"|\bnaissance\s*(?:[:=]|le\b|du\b)\s*"
    # DDN, D.D.N., (D.D.N.), DN, D.N., DOB; a date may follow at once ("DDN03/03/1945")
    r"|(?<![A-Za-z0-9])(?:d\.?\s?d\.?\s?n|d\.?\s?n|d\.?\s?o\.?\s?b)\.?(?![A-Za-z])\)?"
    rf"{_WHOSE}{_SAYS}"
    # born, born on, date of birth, birth date
    r"|\bborn(?:\s+on)?\b\s*(?:[:,]\s*)?|\bdate\s+of\s+birth\b\s*(?:[:=\-]\s*)?"
    r"|\bbirth\s*date\b\s*(?:[:=\-]\s*)?"
    # a weekday may come first: "né le lundi 3 mars 1945", "né le lundi 03/03/1945"
    rf"){_WEEKDAY}{_DATE}"
    # 03/03/1945 (date de naissance), 03/03/1945 (DDN), (date de naissance du patient)
    rf"|{_DATE}\s*[(\[]\s*(?:date\s+de\s+naissance{_WHOSE}|naissance|d\.?d\.?n\.?|d\.?n\.?|dob)"
    r"\s*[)\]]",
    re.IGNORECASE,
)


# Every date form above holds a four-digit year or a d/m/y triple: a text with neither cannot
# hold an announced date of birth, and is passed without trying the long pattern.
_DATEISH = re.compile(r"[0-9]{4}|[0-9]{1,2}\s*[/.\-]\s*[0-9]{1,2}\s*[/.\-]\s*[0-9]{2}")


def contains_birth_date(text: str) -> bool:
    """A date announced as a date of birth ("né" typed with a combining accent included); read
    as a reader reads it (`as_read`)."""
    text = as_read(text)
    if _DATEISH.search(text) is None:
        return False
    return _ANNOUNCED.search(text) is not None
