"""A NetworkPolicy evaluator for the policy tests: who may open which port on whom.

Follows the Kubernetes semantics the manifests rely on: a pod selected by any policy with a
policy type is isolated in that direction; a connection needs an egress allowance on the source
and an ingress allowance on the destination; peers are pods (podSelector, namespaceSelector) or
IP blocks. Only matchLabels selectors are supported; the tests fail on anything else.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

NAMESPACE_LABELS = {"kubernetes.io/metadata.name": "gumloop-mcp"}


@dataclass(frozen=True)
class Pod:
    """A pod of a workload, or an outside pod (ingress controller, kube-dns)."""

    name: str
    labels: dict[str, str]
    namespace_labels: dict[str, str]
    ports: frozenset[int]

    def __hash__(self) -> int:
        return hash(self.name)


def _matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return True
    assert set(selector) <= {"matchLabels"}, f"unsupported selector {selector}"
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def _peer_matches_pod(peer: dict[str, Any], pod: Pod) -> bool:
    if "ipBlock" in peer:
        return False
    if "namespaceSelector" in peer:
        if not _matches(peer["namespaceSelector"], pod.namespace_labels):
            return False
    elif pod.namespace_labels != NAMESPACE_LABELS:
        return False
    return _matches(peer.get("podSelector"), pod.labels)


def _port_ok(rule: dict[str, Any], port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    return any(p.get("port") == port and p.get("protocol", "TCP") == protocol for p in ports)


class Policies:
    """The NetworkPolicies of one rendered overlay."""

    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.items = [o for o in objects if o["kind"] == "NetworkPolicy"]

    def _selecting(self, pod: Pod, direction: str) -> list[dict[str, Any]]:
        if pod.namespace_labels != NAMESPACE_LABELS:
            return []
        return [
            p
            for p in self.items
            if direction in p["spec"].get("policyTypes", ["Ingress"])
            and _matches(p["spec"]["podSelector"], pod.labels)
        ]

    def egress_to_pod(self, src: Pod, dst: Pod, port: int, protocol: str = "TCP") -> bool:
        policies = self._selecting(src, "Egress")
        if not policies:
            return True
        return any(
            _port_ok(rule, port, protocol)
            and (not rule.get("to") or any(_peer_matches_pod(peer, dst) for peer in rule["to"]))
            for p in policies
            for rule in p["spec"].get("egress") or []
        )

    def ingress_from_pod(self, dst: Pod, src: Pod, port: int) -> bool:
        policies = self._selecting(dst, "Ingress")
        if not policies:
            return True
        return any(
            _port_ok(rule, port, "TCP")
            and (not rule.get("from") or any(_peer_matches_pod(peer, src) for peer in rule["from"]))
            for p in policies
            for rule in p["spec"].get("ingress") or []
        )

    def connects(self, src: Pod, dst: Pod, port: int) -> bool:
        """True when src may open TCP `port` on dst."""
        return self.egress_to_pod(src, dst, port) and self.ingress_from_pod(dst, src, port)

    def egress_to_address(self, src: Pod, address: str, port: int) -> bool:
        """True when src may open TCP `port` on an address outside the cluster's pods."""
        policies = self._selecting(src, "Egress")
        if not policies:
            return True
        ip = ipaddress.ip_address(address)
        for p in policies:
            for rule in p["spec"].get("egress") or []:
                if not _port_ok(rule, port, "TCP"):
                    continue
                peers = rule.get("to")
                if not peers:
                    return True
                for peer in peers:
                    block = peer.get("ipBlock")
                    if (
                        block
                        and ip in ipaddress.ip_network(block["cidr"])
                        and not any(ip in ipaddress.ip_network(e) for e in block.get("except", []))
                    ):
                        return True
        return False
