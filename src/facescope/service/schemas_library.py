"""Request and response models of the photo library (``/v1/library``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

#: A face or cluster id in a request body (SQLite integers; ids start at 1).
Id = Annotated[int, Field(ge=1, le=2**62)]


class LibraryFace(BaseModel):
    id: int = Field(description="face id (stable; what split takes)")
    cluster_id: int | None = Field(description="the person (cluster) it belongs to, if any")
    source: str = Field(description="file name of the photo or video it was found in")
    box: list[float] | None = Field(description="x1, y1, x2, y2 in the photo's pixels")
    frame: int | None = Field(None, description="first frame of its track (videos)")
    time: float | None = Field(None, description="start of its track in seconds (videos)")
    quality: float = Field(description="face quality score, 0-1")
    thumbnail: str = Field(description="URL of its JPEG thumbnail")


class ClusterOut(BaseModel):
    id: int
    name: str | None = Field(description="null while unnamed")
    size: int = Field(description="number of faces")
    representative: int | None = Field(
        description="face id to show for it (its best face with a thumbnail)"
    )
    promoted: bool = Field(description="whether it was promoted into a gallery collection")
    subject: str | None = Field(description="the gallery subject it was promoted as")
    created_at: float


class ClusterDetail(ClusterOut):
    faces: list[LibraryFace]


class LibrarySummary(BaseModel):
    library: bool = Field(description="whether the library exists yet")
    files: int = Field(description="photos and videos added")
    faces: int
    clustered: int = Field(description="faces in a cluster")
    unclustered: int = Field(
        description="faces in no cluster yet (a person needs min_faces similar faces)"
    )
    clusters: int
    suggestions: int = Field(description="open merge suggestions")
    model_version: str | None


class ClusterRun(BaseModel):
    processed: int = Field(description="faces that had no cluster and were looked at")
    joined: int = Field(description="faces that joined an existing cluster")
    new_clusters: list[int]
    new_faces: int = Field(description="faces in the new clusters")
    noise: int = Field(description="faces left without a cluster")
    suggestions: int = Field(description="merge suggestions this run recorded")
    eps: float
    min_faces: int


class UploadResponse(BaseModel):
    added: list[str] = Field(description="files whose faces were added")
    skipped: list[str] = Field(description="files the library has already (same pixels)")
    failed: dict[str, str] = Field(description="file name -> why it could not be added")
    faces: list[LibraryFace] = Field(description="the faces added, with their clusters")
    clusters: list[ClusterOut] = Field(description="the clusters those faces are in")
    cluster: ClusterRun | None = Field(description="the clustering run (null with cluster=false)")


class RenameRequest(BaseModel):
    name: str | None = Field(
        description="the person's name (1-200 printable characters); null clears it",
        max_length=200,
    )


class SplitRequest(BaseModel):
    face_ids: list[Id] = Field(
        description="faces of the cluster to move into a new cluster",
        min_length=1,
        max_length=10_000,
    )


class SplitResponse(BaseModel):
    cluster: ClusterOut = Field(description="the cluster, less the faces split off")
    new_cluster: ClusterOut = Field(description="the new cluster holding them")


class MergeRequest(BaseModel):
    other: int = Field(
        description="the cluster merged into this one (it is deleted)", ge=1, le=2**62
    )


class PromoteRequest(BaseModel):
    collection: str = Field(
        "default", description="gallery collection to enrol into", min_length=1, max_length=64
    )
    name: str | None = Field(
        None, description="subject name (default: the cluster's name)", max_length=200
    )
    force: bool = Field(
        False,
        description="create a new subject even when an enrolled one has the same name up to "
        "case and whitespace (refused with 409 similar_subject otherwise)",
    )


class PromoteResponse(BaseModel):
    cluster: ClusterOut
    collection: str
    subject: str
    added: int = Field(description="face templates enrolled (faces enrolled before are skipped)")
    template_ids: list[int]


class SuggestionOut(BaseModel):
    a: int = Field(description="one cluster (the smaller id)")
    b: int = Field(description="the other cluster")
    score: float | None = Field(
        description="cosine similarity of the two clusters' mean faces (higher: more alike)"
    )
    faces: int = Field(description="faces found close to both clusters while clustering")
    clusters: list[ClusterOut] = Field(description="the two clusters, a then b")


class RejectResponse(BaseModel):
    a: int
    b: int
    rejected: bool = Field(description="always true: the pair is never suggested again")
