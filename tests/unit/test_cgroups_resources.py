"""Unit tests of pyruntime.cgroups.resources: parsing, zero rules, v1->v2 conversions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyruntime.cgroups.resources import (
    DeviceRule,
    blkio_weight_to_io_weight,
    parse_resources,
    shares_to_weight,
    swap_to_v2,
)
from pyruntime.errors import CgroupError, SpecError

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "contract-examples"


def test_parse_resources_none_is_empty():
    r = parse_resources(None)
    assert not r.memory_set() and not r.cpu_set() and not r.io_set() and r.devices is None


def test_parse_resources_docker_update_zeros_mean_unset():
    r = parse_resources(
        {
            "memory": {"limit": 0, "reservation": 10485760, "kernel": 0},
            "cpu": {"shares": 512, "quota": 150000, "period": 100000, "cpus": "0"},
            "pids": {"limit": 50},
            "blockIO": {"weight": 0},
        }
    )
    assert r.memory_limit is None and r.kernel is None and r.blkio_weight is None
    assert r.memory_reservation == 10485760
    assert (r.cpu_shares, r.cpu_quota, r.cpu_period, r.cpus) == (512, 150000, 100000, "0")
    assert r.pids_limit == 50


def test_parse_resources_full_object_every_field():
    r = parse_resources(
        {
            "memory": {
                "limit": 1,
                "reservation": 2,
                "swap": 3,
                "kernel": 4,
                "kernelTCP": 5,
                "swappiness": 0,
                "disableOOMKiller": True,
                "useHierarchy": True,
                "checkBeforeUpdate": True,
            },
            "cpu": {
                "shares": 6,
                "quota": -1,
                "period": 7,
                "burst": 0,
                "realtimeRuntime": 8,
                "realtimePeriod": 9,
                "cpus": "0-1",
                "mems": "0",
                "idle": 1,
            },
            "pids": {"limit": -1},
            "blockIO": {
                "weight": 10,
                "leafWeight": 11,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 12, "leafWeight": 13}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 14}],
                "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 15}],
                "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 16}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 17}],
            },
            "hugepageLimits": [{"pageSize": "2MB", "limit": 18}],
            "network": {"classID": 19, "priorities": [{"name": "eth0", "priority": 20}]},
            "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}},
            "unified": {"io.weight": "50"},
            "devices": [
                {"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "access": "wr"},
            ],
        }
    )
    assert r.swappiness == 0  # zero is a real swappiness, not "unset"
    assert r.cpu_burst == 0 and r.cpu_idle == 1 and r.cpu_quota == -1
    assert r.check_before_update and r.disable_oom_killer and r.use_hierarchy
    assert r.weight_devices[0].leaf_weight == 13
    assert [t.rate for t in r.throttle_write_iops] == [17]
    assert r.hugepages == [("2MB", 18)]
    assert r.net_priorities == [("eth0", 20)]
    assert r.rdma == {"mlx5_1": (3, 10000)}
    assert r.unified == {"io.weight": "50"}
    assert r.devices == [DeviceRule(False, "a", -1, -1, "rwm"), DeviceRule(True, "c", 1, -1, "rw")]


@pytest.mark.parametrize(
    "res, where",
    [
        ({"memory": {"limit": "1"}}, "linux.resources.memory.limit"),
        ({"memory": {"swappiness": 101}}, "linux.resources.memory.swappiness"),
        ({"cpu": {"shares": -5}}, "linux.resources.cpu.shares"),
        (
            {"devices": [{"allow": True, "type": "x", "access": "r"}]},
            "linux.resources.devices[0].type",
        ),
        ({"devices": [{"allow": True}]}, "linux.resources.devices[0].access"),
        ({"devices": [{"access": "r"}]}, "linux.resources.devices[0].allow"),
        (
            {"blockIO": {"throttleReadBpsDevice": [{"major": 1}]}},
            "linux.resources.blockIO.throttleReadBpsDevice[0]",
        ),
        ({"unified": {"a.b": 1}}, "linux.resources.unified.a.b"),
    ],
)
def test_parse_resources_bad_value_raises_with_path(res, where):
    with pytest.raises(SpecError) as ei:
        parse_resources(res)
    assert ei.value.path == where


def test_parse_resources_swappiness_minus_one_unset():
    assert parse_resources({"memory": {"swappiness": -1}}).swappiness is None
    # docker sends uint64(-1) for "unset" in some versions
    assert parse_resources({"memory": {"swappiness": 2**64 - 1}}).swappiness is None


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.config.json")))
def test_parse_resources_contract_examples_parse(name):
    cfg = json.loads((EXAMPLES / name).read_text())
    parse_resources(cfg.get("linux", {}).get("resources"))


@pytest.mark.parametrize(
    "shares, weight",
    [(2, 1), (1, 1), (1024, 100), (262144, 10000), (300000, 10000), (512, 59), (2048, 174)],
)
def test_shares_to_weight_runc_values(shares, weight):
    assert shares_to_weight(shares) == weight


@pytest.mark.parametrize("blkio, io", [(10, 1), (1000, 10000), (500, 4950), (100, 910)])
def test_blkio_weight_to_io_weight_linear(blkio, io):
    assert blkio_weight_to_io_weight(blkio) == io


@pytest.mark.parametrize(
    "swap, mem, out",
    [
        (None, -1, -1),
        (None, 100, None),
        (-1, 100, -1),
        (300, -1, 300),
        (300, 100, 200),
        (100, 100, 0),
    ],
)
def test_swap_to_v2_conversions(swap, mem, out):
    assert swap_to_v2(swap, mem) == out


@pytest.mark.parametrize(
    "swap, mem, msg",
    [
        (300, None, "without memory limit"),
        (50, 100, "should be >= memory"),
        (300, -5, "invalid memory"),
    ],
)
def test_swap_to_v2_impossible_raises(swap, mem, msg):
    with pytest.raises(CgroupError, match=msg):
        swap_to_v2(swap, mem)
