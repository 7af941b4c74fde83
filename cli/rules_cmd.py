"""`shouwang rules list|test|check`: the detection rules of a directory.

    rules list  [--rules DIR]              id, type, severity, ATT&CK technique, name
    rules test  RULE FILE [--rules DIR]    which lines RULE selects in FILE, the key it extracts,
                                           and the findings the whole file raises
                                           (like fail2ban-regex); RULE is an id or a YAML path
    rules check [--rules DIR] [--samples DIR]
                                           validate every rule file, and check that every rule
                                           has tests/samples/<id>.log and matches it

Exit codes: list 0; test 1 when the file raised findings, else 0; check 0 when clean, 1 when a
rule lacks samples or fails them; 2 for an invalid rule file or a missing input.
"""
from __future__ import annotations

import sys
from pathlib import Path

from cli.detect_cmd import add_rule_arguments, parser_factory
from cli.parse_cmd import _lines
from core.errors import EXIT_FINDINGS, EXIT_OK, InputError
from detectors.catalog import default_rule_types
from detectors.rules import load_rule, load_rules
from detectors.samples import SAMPLES_DIR, check_samples, read_samples
from detectors.trial import run_trial


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("rules", help="list, try and check detection rules",
                                   description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="rules_command", metavar="ACTION", required=True)

    listing = commands.add_parser("list", help="list the rules of a directory")
    add_rule_arguments(listing)
    listing.set_defaults(handler=run_list)

    trial = commands.add_parser("test", help="try one rule against a log file")
    trial.add_argument("rule", metavar="RULE", help="rule id (in --rules) or rule YAML file")
    trial.add_argument("file", metavar="FILE", help="log file, .gz file, or -")
    add_rule_arguments(trial)
    trial.add_argument("--format", default="auto", help="input format (default auto)")
    trial.add_argument("--timezone", default=None, help="time zone of stamps without one")
    trial.add_argument("--show-missed", action="store_true",
                       help="also print the parsed lines the rule did not select")
    trial.set_defaults(handler=run_test)

    check = commands.add_parser("check", help="validate rules and run their samples")
    add_rule_arguments(check)
    check.add_argument("--samples", default=str(SAMPLES_DIR), metavar="DIR",
                       help=f"annotated samples directory (default {SAMPLES_DIR})")
    check.set_defaults(handler=run_check)


def run_list(args) -> int:
    loaded = load_rules(args.rules, default_rule_types(), include_disabled=True)
    rows = [("ID", "TYPE", "SEVERITY", "TECHNIQUE", "NAME")]
    for item in loaded:
        rule = item.rule
        technique = rule.subtechnique.id if rule.subtechnique else rule.technique.id
        name = rule.name if rule.enabled else f"{rule.name} (disabled)"
        rows.append((rule.id, item.kind.name, rule.severity, technique, name))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[4])
    return EXIT_OK


def _find_rule(args):
    types = default_rule_types()
    path = Path(args.rule)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return load_rule(path, types)
    loaded = load_rules(args.rules, types, include_disabled=True)
    for item in loaded:
        if item.rule.id == args.rule:
            return item
    raise InputError(f"no rule {args.rule!r} in {args.rules} (known: "
                     + ", ".join(item.rule.id for item in loaded) + ")")


def run_test(args) -> int:
    if args.file != "-" and not Path(args.file).is_file():
        raise InputError(f"no such file: {args.file}")
    loaded = _find_rule(args)
    parse = parser_factory(args)().parse
    totals: dict = {"errors": 0, "invalid_utf8": 0}
    numbered = list(enumerate(_lines(args.file, totals), 1))
    trial = run_trial(loaded, numbered, parse)
    print(f"Rule:    {loaded.rule.id} ({loaded.kind.name}) from {loaded.file}")
    print(f"File:    {args.file}")
    print("")
    parsed = 0
    for result in trial.lines:
        if result.event is None:
            continue
        parsed += 1
        if result.selected:
            key = " ".join(f"{name}={value}" for name, value in result.key.items())
            print(f"  match  {result.number:>6}  [{key}]  {result.line}")
        elif args.show_missed:
            print(f"  -      {result.number:>6}  {result.line}")
    print("")
    print(f"Lines:   {len(numbered)} lines, {parsed} parsed, {len(trial.selected)} selected by "
          f"the rule, {len(trial.findings)} findings")
    for finding in trial.findings:
        print(f"Finding: {finding['@timestamp']}  {finding['shouwang.severity']}  "
              f"{finding['shouwang.reason.en']}")
        print(f"         {finding['shouwang.reason.zh']}")
    return EXIT_FINDINGS if trial.findings else EXIT_OK


def run_check(args) -> int:
    loaded = load_rules(args.rules, default_rule_types(), include_disabled=True)
    samples_dir = Path(args.samples)
    # per sample file a fresh auto parser: parsers keep per-stream state
    new_parser = parser_factory(type("Defaults", (), {"format": "auto", "timezone": None,
                                                      "log_format": None})())
    problems: list[str] = []
    for item in loaded:
        path = samples_dir / f"{item.rule.id}.log"
        if not path.is_file():
            problems.append(f"{item.file}: rule {item.rule.id!r} has no samples ({path})")
            continue
        problems += check_samples(item, read_samples(path), new_parser().parse)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"shouwang rules check: {len(loaded)} rules valid, "
          f"{len(loaded) - len({p.split(':')[0] for p in problems})} match their samples, "
          f"{len(problems)} problems", file=sys.stderr)
    return EXIT_FINDINGS if problems else EXIT_OK
