"""The kubelet mode's node configuration (tests/harness/node.py): pure parts."""

from pathlib import Path

import pytest
import yaml

from tests.harness import node


@pytest.mark.parametrize(
    ("rule", "target"),
    [
        ("-A INPUT -j KUBE-FIREWALL", "KUBE-FIREWALL"),
        ("-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -j DROP", "DROP"),
        ("-A OUTPUT -m comment --comment x", ""),
        ("-N KUBE-KUBELET-CANARY", ""),
    ],
)
def test_target_of_a_rule(rule: str, target: str) -> None:
    assert node._target(rule.split()) == target


def test_every_path_and_the_cgroup_parent_belong_to_the_state_dir(tmp_path: Path) -> None:
    layout = node.NodeLayout(tmp_path / "a")
    containerd = node.containerd_config(layout, "localhost/pause:1")
    kubelet = node.kubelet_config(layout, "192.0.2.7", 12345)
    node.write_configs(layout, "localhost/pause:1", "192.0.2.7", 12345)

    assert f'address = "{layout.containerd_socket}"' in containerd
    assert 'sandbox_image = "localhost/pause:1"' in containerd
    # Without CAP_SYS_RESOURCE every sandbox fails otherwise.
    assert "restrict_oom_score_adj = true" in containerd
    assert yaml.safe_load(layout.kubelet_config.read_text()) == kubelet
    assert kubelet["failCgroupV1"] is False
    assert kubelet["address"] == "192.0.2.7"
    assert kubelet["containerRuntimeEndpoint"] == f"unix://{layout.containerd_socket}"
    assert str(kubelet["podLogsDir"]).startswith(f"{tmp_path}/a/")
    assert kubelet["cgroupRoot"] == f"/{layout.cgroup_root}"
    assert layout.cgroup_root != node.NodeLayout(tmp_path / "b").cgroup_root


def test_the_node_network_stays_on_the_machine() -> None:
    assert node.NODE_NETWORK.is_private  # TEST-NET-1: routed nowhere
    assert node.CNI_CONFIG["plugins"] == [{"type": "loopback"}]
