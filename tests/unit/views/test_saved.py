"""Saved views: which one a name means, and which are the viewer's."""

import asyncio

import pytest

from taskmill.kube import ApiError
from taskmill.status import Viewer
from taskmill.views.filters import ViewError
from taskmill.views.saved import CLUSTERJOBVIEWS, JOBVIEWS, list_views, load_view
from tests.fakes.kube import FakeKube, on


def view(kind: str, name: str, namespace: str = "", **spec: object) -> dict[str, object]:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": "taskmill.io/v1alpha1", "kind": kind, "metadata": meta, "spec": spec}


def fake() -> FakeKube:
    kube = FakeKube()
    kube.put(
        JOBVIEWS.path("ml"),
        view(
            "JobView",
            "mine",
            "ml",
            statuses=["Failure"],
            subjects=[{"kind": "Group", "name": "ml"}],
        ),
    )
    kube.put(JOBVIEWS.path("ml"), view("JobView", "shared", "ml", since="2h"))
    kube.put(
        CLUSTERJOBVIEWS.path(), view("ClusterJobView", "shared", sortBy="AGE", allNamespaces=True)
    )
    kube.put(
        CLUSTERJOBVIEWS.path(),
        view("ClusterJobView", "ops", subjects=[{"kind": "User", "name": "alice"}]),
    )
    return kube


def test_a_namespaced_view_wins_over_a_cluster_view_of_its_name() -> None:
    saved = asyncio.run(load_view(fake(), "shared", "ml"))
    assert (saved.view.since is not None, saved.all_namespaces) == (True, False)
    cluster = asyncio.run(load_view(fake(), "shared", None))
    assert (cluster.view.sort_by, cluster.all_namespaces) == ("AGE", True)


def test_an_unknown_view_says_where_it_looked() -> None:
    with pytest.raises(ViewError, match="no JobView ml/nope and no ClusterJobView nope"):
        asyncio.run(load_view(fake(), "nope", "ml"))


def test_the_viewers_views_come_first() -> None:
    listed = asyncio.run(list_views(fake(), "ml", Viewer("alice", ("ml",))))
    assert [(v.name, v.kind, v.mine) for v in listed] == [
        ("mine", "JobView", True),
        ("ops", "ClusterJobView", True),
        ("shared", "JobView", False),
        ("shared", "ClusterJobView", False),
    ]


def test_views_the_viewer_may_not_list_are_left_out() -> None:
    kube = fake()
    kube.fail(on("list", CLUSTERJOBVIEWS.path()), ApiError(403, "Forbidden", "no"), None)
    listed = asyncio.run(list_views(kube, "ml", Viewer("bob")))
    assert [v.kind for v in listed] == ["JobView", "JobView"]
