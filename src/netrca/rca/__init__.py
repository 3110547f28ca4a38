"""Root-cause analysis: incidents, evidence packs, the rule knowledge base and analyzers."""

from __future__ import annotations

from netrca.rca.evidence import EvidencePack, ScoredFlows, build_evidence
from netrca.rca.incidents import Incident, group_incidents
from netrca.rca.knowledge import KnowledgeBase, load_knowledge
from netrca.rca.rules import RuleAnalyzer

__all__ = [
    "EvidencePack",
    "Incident",
    "KnowledgeBase",
    "RuleAnalyzer",
    "ScoredFlows",
    "build_evidence",
    "group_incidents",
    "load_knowledge",
]
