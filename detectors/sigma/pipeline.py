"""The pySigma processing pipeline that fits Sigma rules to our events, built from the mapping
file (detectors/sigma/mapping.py).

For a rule whose logsource is mapped, the pipeline
- adds the condition `event.dataset: [<datasets>]` (and `process.name: [...]` where a service
  shares a dataset), ANDed to the rule's own: the ES conversion then searches only those data
  streams, and the in-process evaluator takes the datasets off the top of the condition tree
  to index the rule (the engine shows it no other events);
- renames Sigma field names to ECS names (the logsource's own table, then the common one).
The processing item ids start with `shouwang_logsource_`, so `logsource_name(rule)` tells
which mapping applied; a rule no item applied to has no source of events here.

Logsources match exactly (a custom condition), unlike pySigma's LogsourceCondition, which
ignores keys the condition leaves out: "product: linux" must not catch linux/process_creation.
"""
from __future__ import annotations

from dataclasses import dataclass

from sigma.correlations import SigmaCorrelationRule
from sigma.processing.conditions.base import RuleProcessingCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations.condition import AddConditionTransformation
from sigma.processing.transformations.fields import FieldMappingTransformation
from sigma.rule import SigmaRule

from detectors.sigma.mapping import LogsourceMatch, SigmaMapping

ITEM_PREFIX = "shouwang_logsource_"
DATASET_CONDITION = "_shouwang_source"
PIPELINE_PRIORITY = 20  # after generic pipelines (10), before backend ones (50+)


@dataclass
class ExactLogsourceCondition(RuleProcessingCondition):
    """True for a rule whose (product, category, service) equals `match`'s, absent keys too.
    A correlation rule matches when one of its resolved rules does."""

    logsource: LogsourceMatch = None

    def match(self, rule) -> bool:
        if isinstance(rule, SigmaRule):
            source = rule.logsource
            return self.logsource.matches(source.product, source.category, source.service)
        if isinstance(rule, SigmaCorrelationRule):
            return any(isinstance(getattr(ref, "rule", None), (SigmaRule, SigmaCorrelationRule))
                       and self.match(ref.rule) for ref in rule.rules or ())
        return False


def build_pipeline(mapping: SigmaMapping) -> ProcessingPipeline:
    """A ProcessingPipeline for `mapping` (apply it per rule, or pass it to a pySigma backend)."""
    items: list[ProcessingItem] = []
    for name, source in mapping.logsources.items():
        condition = ExactLogsourceCondition(logsource=source.match)
        added: dict = {"event.dataset": list(source.datasets)}
        if source.process_names:
            added["process.name"] = list(source.process_names)
        items.append(ProcessingItem(
            identifier=ITEM_PREFIX + name,
            transformation=AddConditionTransformation(conditions=added, name=DATASET_CONDITION),
            rule_conditions=[condition]))
        if source.fields:
            items.append(ProcessingItem(
                identifier=f"shouwang_fields_{name}",
                transformation=FieldMappingTransformation(dict(source.fields)),
                rule_conditions=[ExactLogsourceCondition(logsource=source.match)]))
    if mapping.fields:
        # Only for rules of a mapped logsource: an inactive rule keeps its Sigma names, which
        # tells a reader of `rules list` what the missing source would have to provide.
        items.append(ProcessingItem(
            identifier="shouwang_fields_common",
            transformation=FieldMappingTransformation(dict(mapping.fields)),
            rule_condition_linking=any,
            rule_conditions=[ExactLogsourceCondition(logsource=s.match)
                             for s in mapping.logsources.values()]))
    return ProcessingPipeline(name="shouwang ECS events", priority=PIPELINE_PRIORITY,
                              items=items)


def logsource_name(rule) -> str | None:
    """The mapping name the pipeline applied to `rule` (after `pipeline.apply(rule)`), or None."""
    for item_id in getattr(rule, "applied_processing_items", ()):
        if item_id.startswith(ITEM_PREFIX):
            return item_id[len(ITEM_PREFIX):]
    return None
