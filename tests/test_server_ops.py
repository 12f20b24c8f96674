"""The local server's operations produce real media: decoded and checked here, over HTTP."""

from __future__ import annotations

import io
import json

import av
import httpx
import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image
from pydantic import BaseModel

from vlmrun_jupyter import ArrayRef, AudioRef, DocumentRef, ImageRef, ReconRef, UrlRef, VideoRef
from vlmrun_jupyter.local import media, ops, samples
from vlmrun_jupyter.splat import spz


class Blurred(BaseModel):
    image: ImageRef
    description: str


class Trimmed(BaseModel):
    video: VideoRef


class KeyFrame(BaseModel):
    image: ImageRef
    timestamp: float
    description: str


class KeyFrames(BaseModel):
    frames: list[KeyFrame]


class Redacted(BaseModel):
    document: DocumentRef


class Recon(BaseModel):
    recon: ReconRef


class Audio(BaseModel):
    audio: AudioRef


class Depth(BaseModel):
    depth: ArrayRef


class Link(BaseModel):
    link: UrlRef


class Everything(BaseModel):
    image: ImageRef
    video: VideoRef
    document: DocumentRef
    array: ArrayRef
    url: UrlRef
    recon: ReconRef


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    img = samples.sample_image()
    return {
        "image": img,
        "video": samples.sample_video(d / "clip.mp4", seconds=4.0, fps=24),
        "pdf": samples.sample_pdf(d / "doc.pdf", pages=3),
    }


def _frames(path) -> list[tuple[float, np.ndarray]]:
    with av.open(str(path)) as c:
        return [(f.time, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]


def test_blur_faces_changes_the_faces_and_nothing_else(client, inputs):
    img = inputs["image"]
    faces = media.detect_faces(img)
    assert len(faces) >= 1, "the sample image must contain a detectable face"
    done = client.complete("Blur the faces in this photo", inputs=[img], schema=Blurred)
    out = np.asarray(done.result.image.load().convert("RGB"), np.float32)
    # compare against the same JPEG round trip of the input, so only the blur differs
    ref = np.asarray(Image.open(io.BytesIO(samples.image_bytes(img))).convert("RGB"), np.float32)
    diff = np.abs(out - ref).mean(axis=2)
    inside = np.zeros(diff.shape, bool)
    for x, y, w, h in faces:
        pad = int(0.1 * max(w, h))
        inside[max(0, y - pad) : y + h + pad, max(0, x - pad) : x + w + pad] = True
    assert diff[inside].mean() > 8.0, "faces should be visibly blurred"
    margin = np.ones(diff.shape, bool)
    for x, y, w, h in faces:
        margin[max(0, y - h) : y + 2 * h, max(0, x - w) : x + 2 * w] = False
    assert diff[margin].mean() < 2.0, "pixels away from the faces should not change"
    assert f"Blurred {len(faces)} face" in done.result.description


def test_trim_keeps_exactly_the_first_two_seconds(client, inputs):
    done = client.complete(
        "Trim the video to its first 2 seconds", inputs=[inputs["video"]], schema=Trimmed
    )
    path = done.result.video.fetch()
    assert path.suffix == ".mp4"
    src, out = _frames(inputs["video"]), _frames(path)
    assert abs(len(out) - 48) <= 1, len(out)
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert abs(c.duration / 1e6 - 2.0) <= 1 / 24 + 0.05
        assert c.streams.audio, "the audio track is kept"
    # the frames are the input's first frames (frame-index stripe survives re-encoding)
    for (_, a), (_, b) in zip(src[:3] + src[40:46], out[:3] + out[40:46], strict=True):
        assert np.abs(a[:8, :40].astype(int) - b[:8, :40].astype(int)).mean() < 12


def test_five_key_frames_with_real_increasing_timestamps(client, inputs):
    done = client.complete(
        "Extract 5 key frames with timestamp and description",
        inputs=[inputs["video"]],
        schema=KeyFrames,
    )
    frames = done.result.frames
    assert len(frames) == 5
    times = [f.timestamp for f in frames]
    assert times == sorted(times) and 0 <= times[0] < times[-1] <= 4.0
    assert len({f.image.id for f in frames}) == 5
    for f in frames:
        im = f.image.load()
        assert im.size == (320, 240)
        assert f"{f.timestamp:.2f} s" in f.description


def test_redacted_region_is_black_and_pages_kept(client, inputs):
    done = client.complete(
        "Redact region 0.1,0.1,0.5,0.2 on page 2", inputs=[inputs["pdf"]], schema=Redacted
    )
    path = done.result.document.fetch()
    pdf = pdfium.PdfDocument(str(path))
    try:
        assert len(pdf) == 3
        pages = [np.asarray(pdf[i].render(scale=1).to_pil().convert("L")) for i in range(3)]
    finally:
        pdf.close()
    h, w = pages[1].shape
    box = pages[1][int(0.12 * h) : int(0.28 * h), int(0.12 * w) : int(0.58 * w)]
    assert box.max() <= 16, "the redacted region renders black"
    assert pages[0][int(0.12 * h) : int(0.28 * h), int(0.12 * w) : int(0.58 * w)].mean() > 100


def test_audio_extraction_decodes_as_mp3_of_the_right_length(client, inputs):
    done = client.complete(
        "Extract the audio of this video", inputs=[inputs["video"]], schema=Audio
    )
    path = done.result.audio.fetch()
    assert path.suffix == ".mp3"
    with av.open(str(path)) as c:
        assert c.streams.audio[0].codec_context.name.startswith("mp3")
        samples_ = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
        rate = c.streams.audio[0].codec_context.sample_rate
    assert abs(len(samples_) / rate - 4.0) < 0.1
    # the 440 Hz tone survives (a one-second window: FFT bin k is k Hz)
    spectrum = np.abs(np.fft.rfft(samples_[:rate]))
    assert abs(int(np.argmax(spectrum)) - 440) < 5


def test_reconstruction_is_a_real_spz_relief_of_the_image(client, inputs):
    done = client.complete(
        "3D reconstruction of this image", inputs=[inputs["image"]], schema=Recon
    )
    data = done.result.recon.fetch().read_bytes()
    assert data[:2] == b"\x1f\x8b"
    splats = spz.decode(data)
    assert 50_000 < len(splats) <= 100_000
    # colours follow the image: the sky (top rows) is bluer than the ground (bottom rows)
    y = splats.positions[:, 1]
    top, bottom = splats.colors[y > np.percentile(y, 90)], splats.colors[y < np.percentile(y, 10)]
    assert top[:, 2].mean() > bottom[:, 2].mean()


def test_depth_map_is_a_float_array_of_the_image_size(client, inputs):
    done = client.complete("Estimate a depth map", inputs=[inputs["image"]], schema=Depth)
    arr = done.result.depth.load()
    assert arr.shape == (480, 640) and arr.dtype == np.float32
    assert 0.0 <= arr.min() < arr.max() <= 1.0


def test_url_artifact_points_at_the_servers_own_file(client, inputs, live_server):
    done = client.complete("Give me a link to this image", inputs=[inputs["image"]], schema=Link)
    raw = httpx.get(
        f"{live_server.base_url}/artifacts",
        params={"object_id": done.result.link.id, "session_id": done.session_id},
        headers={"Authorization": f"Bearer {live_server.api_key}"},
    )
    url = raw.text
    assert url.startswith(live_server.base_url.rsplit("/v1", 1)[0])
    body = httpx.get(url).content  # public route: no key needed
    assert Image.open(io.BytesIO(body)).size == (640, 480)


def test_every_ref_field_gets_a_real_artifact_of_its_kind(client, inputs):
    done = client.complete("Blur the image", inputs=[inputs["image"]], schema=Everything)
    r = done.result
    assert r.image.load().size == (640, 480)
    assert r.video.fetch().read_bytes()[4:8] == b"ftyp"
    assert r.document.fetch().read_bytes().startswith(b"%PDF")
    assert r.array.load().ndim == 2
    assert len(spz.decode(r.recon.fetch().read_bytes())) > 0
    assert r.url.fetch().stat().st_size > 0


def test_same_input_same_output_bytes(client, inputs):
    a = client.complete(
        "Blur the faces", inputs=[inputs["image"]], schema=Blurred
    ).result.image.fetch()
    b = client.complete(
        "Blur the faces", inputs=[inputs["image"]], schema=Blurred
    ).result.image.fetch()
    assert a.read_bytes() == b.read_bytes()


def test_session_continues_with_an_earlier_artifact(client, inputs):
    first = client.complete("Blur the image", inputs=[inputs["image"]], schema=Blurred)
    second = client.complete(
        f"Make it grayscale: {first.result.image.id}", schema=Blurred, session_id=first.session_id
    )
    assert second.session_id == first.session_id
    arr = np.asarray(second.result.image.load().convert("RGB"), np.int16)
    assert np.abs(arr[..., 0] - arr[..., 1]).max() <= 3  # gray


def test_unsupported_prompt_lists_what_is_supported(client, inputs):
    from vlmrun_jupyter.errors import RequestError

    with pytest.raises(RequestError) as info:
        client.complete("Compose a sonnet about this", inputs=[inputs["image"]])
    assert info.value.status == 422
    assert "blur the faces" in str(info.value) and "key frames" in str(info.value)


def test_missing_input_names_what_is_missing(client):
    from vlmrun_jupyter.errors import RequestError

    with pytest.raises(RequestError, match="needs a video"):
        client.complete("Trim the video to the first 2 seconds")


# -- respond() directly, with a minimal store (the HTTP layer's Store protocol) --------------------


class DirStore:
    """A Store that keeps artifacts as files in a directory."""

    def __init__(self, root):
        self.workdir = root / "work"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.files: dict[str, bytes] = {}

    def add(self, prefix, data, content_type, filename=None):
        oid = f"{prefix}_{len(self.files):06d}"
        self.files[oid] = data if isinstance(data, bytes) else data.read_bytes()
        return oid

    def url_for(self, object_id_or_name):
        return f"http://127.0.0.1:9/files/{object_id_or_name}"


@pytest.fixture
def store(tmp_path):
    return DirStore(tmp_path)


def _image_input(tmp_path, img, name="photo.png"):
    path = tmp_path / name
    img.save(path)
    return ops.Media("image", path, "image/png", name)


def _decoded(store, oid):
    return Image.open(io.BytesIO(store.files[oid])).convert("RGB")


def test_no_face_found_says_so_and_keeps_the_image(tmp_path, store):
    img = samples.sample_image(faces=False)
    answer = json.loads(
        ops.respond(
            "blur the faces", [_image_input(tmp_path, img)], Blurred.model_json_schema(), store
        )
    )
    assert "No faces were found" in answer["description"]
    out = np.asarray(_decoded(store, answer["image"]["id"]), np.float32)
    assert np.abs(out - np.asarray(img, np.float32)).mean() < 2.0  # only JPEG noise


def test_region_blur_changes_only_that_region(tmp_path, store):
    img = samples.sample_image()
    answer = json.loads(
        ops.respond(
            "Blur region 20,200,200,150",
            [_image_input(tmp_path, img)],
            Blurred.model_json_schema(),
            store,
        )
    )
    diff = np.abs(
        np.asarray(_decoded(store, answer["image"]["id"]), np.float32) - np.asarray(img, np.float32)
    ).mean(axis=2)
    assert diff[205:345, 25:215].mean() > 3.0
    assert diff[:150].mean() < 2.0 and diff[:, 300:].mean() < 2.0


def test_crop_resize_grayscale_mask_from_real_pixels(tmp_path, store):
    m = _image_input(tmp_path, samples.sample_image())
    crop = json.loads(ops.respond("crop to 10,20,100,50", [m], Blurred.model_json_schema(), store))
    assert _decoded(store, crop["image"]["id"]).size == (100, 50)
    small = json.loads(ops.respond("resize to width 160", [m], Blurred.model_json_schema(), store))
    assert _decoded(store, small["image"]["id"]).size == (160, 120)
    gray = json.loads(ops.respond("make it grayscale", [m], Blurred.model_json_schema(), store))
    g = np.asarray(_decoded(store, gray["image"]["id"]), np.int16)
    assert np.abs(g[..., 0] - g[..., 2]).max() <= 3
    mask = json.loads(ops.respond("segment the image", [m], Depth.model_json_schema(), store))
    arr = np.load(io.BytesIO(store.files[mask["depth"]["id"]]), allow_pickle=False)
    assert arr.shape == (480, 640) and set(np.unique(arr)) == {0, 1}


def test_video_from_images_at_the_requested_fps(tmp_path, store):
    a, b = samples.sample_image(320, 240), samples.sample_image(320, 240, faces=False)
    inputs = [_image_input(tmp_path, a, "a.png"), _image_input(tmp_path, b, "b.png")]
    answer = json.loads(
        ops.respond(
            "Make a video from the images at 5 fps, 2 seconds per image",
            inputs,
            Trimmed.model_json_schema(),
            store,
        )
    )
    path = tmp_path / "slides.mp4"
    path.write_bytes(store.files[answer["video"]["id"]])
    frames = _frames(path)
    assert len(frames) == 20
    assert abs(frames[1][0] - frames[0][0] - 0.2) < 1e-6  # 5 fps
    # the first half shows image a (with faces), the second half image b
    first, last = frames[0][1].astype(int), frames[-1][1].astype(int)
    assert np.abs(first - np.asarray(a, int)).mean() < np.abs(first - np.asarray(b, int)).mean()
    assert np.abs(last - np.asarray(b, int)).mean() < np.abs(last - np.asarray(a, int)).mean()


def test_pdf_from_images_and_pages(tmp_path, store, inputs):
    pdf = ops.Media("document", inputs["pdf"], "application/pdf", "doc.pdf")
    answer = json.loads(
        ops.respond(
            "Make a PDF from the images and pages",
            [_image_input(tmp_path, samples.sample_image()), pdf],
            Redacted.model_json_schema(),
            store,
        )
    )
    doc = pdfium.PdfDocument(store.files[answer["document"]["id"]])
    try:
        assert len(doc) == 4
    finally:
        doc.close()


def test_trimmed_video_is_byte_for_byte_reproducible(tmp_path, inputs):
    video = ops.Media("video", inputs["video"], "video/mp4", "clip.mp4")
    outs = []
    for k in range(3):
        s = DirStore(tmp_path / str(k))
        answer = json.loads(
            ops.respond(
                "Trim the video from 1 to 3 seconds", [video], Trimmed.model_json_schema(), s
            )
        )
        outs.append(s.files[answer["video"]["id"]])
    assert outs[0] == outs[1] == outs[2]


def test_plain_text_without_schema_describes_what_was_done(inputs, store):
    video = ops.Media("video", inputs["video"], "video/mp4", "clip.mp4")
    text = ops.respond("extract 3 key frames", [video], None, store)
    assert text.startswith("Extracted 3 key frames at ") and text.count(" s") >= 3
    assert sum(oid.startswith("img_") for oid in store.files) == 3


def test_missing_input_is_unsupported_naming_it(store):
    with pytest.raises(ops.Unsupported, match="needs an image"):
        ops.respond("give me a depth map", [], None, store)
    with pytest.raises(ops.Unsupported) as info:
        ops.respond("write a poem", [], None, store)
    assert all(s in info.value.detail for s in ops.SUPPORTED)


# -- instruction matching: asked for, or refused naming the closest ---------------------------

# Prompts that mention "PDF", "url", "link", "video" as nouns ask for no operation.
NOUN_PROMPTS = [
    ("This PDF is a scanned invoice; what is the total?", "make a PDF"),
    ("Is the attached PDF signed on page 2?", "make a PDF"),
    ("Upload the result to a presigned url when done", "give me a link"),
    ("The url in the footer is broken", "give me a link"),
    ("Check the link in the caption of this image", "give me a link"),
    ("The link between these two images is the colour", "give me a link"),
    ("The video shows a cat chasing a laser", "make a video"),
    ("Is this video in portrait or landscape?", "make a video"),
]


@pytest.mark.parametrize(("prompt", "closest"), NOUN_PROMPTS)
def test_nouns_in_a_statement_are_a_422_naming_the_closest(client, inputs, prompt, closest):
    from vlmrun_jupyter.errors import RequestError

    with pytest.raises(RequestError) as info:
        client.complete(prompt, inputs=[inputs["image"]], schema=Link)
    assert info.value.status == 422
    assert f"Closest supported instruction: '{closest}" in str(info.value)


ASKED = [
    ("Make a PDF from the images", "pdf"),
    ("Combine these pages into a single PDF", "pdf"),
    ("PDF of these images, please", "pdf"),
    ("Give me a link to this image", "link"),
    ("I need a download link for the output", "link"),
    ("Make a video from the images at 5 fps", "video from images"),
    ("Turn the images into a slideshow", "video from images"),
    ("Trim the video from 00:30 to 00:45", "trim"),
    ("Keep the first 2 seconds", "trim"),
    ("Blur all faces and remove any PHI from this image.", "blur"),
    ("Generate a 3D reconstruction of the table in the image.", "3d"),
    ("Extract 5 key frames from this video", "key frames"),
    ("Generate a description of the video", "describe"),
]


@pytest.mark.parametrize(("prompt", "name"), ASKED)
def test_requests_are_recognised_and_the_earliest_wins(prompt, name):
    from vlmrun_jupyter.local.ops.matching import find

    assert find(prompt) is not None and find(prompt).name == name


def test_trim_takes_mm_ss_ranges(tmp_path, inputs):
    video = ops.Media("video", inputs["video"], "video/mp4", "clip.mp4")
    s = DirStore(tmp_path)
    answer = json.loads(
        ops.respond("Trim the video from 00:01 to 0:03", [video], Trimmed.model_json_schema(), s)
    )
    out = tmp_path / "out.mp4"
    out.write_bytes(s.files[answer["video"]["id"]])
    assert abs(len(_frames(out)) - 48) <= 1  # 2 s at 24 fps
    src = _frames(inputs["video"])
    first = _frames(out)[0][1]
    assert np.abs(first[:8, :40].astype(int) - src[24][1][:8, :40].astype(int)).mean() < 12


# -- virtual try-on ------------------------------------------------------------------------

TRY_ON_PROMPT = (
    "You are provided with two images: one of a dress (the first image) and one of a person "
    "(the second image). Generate highly realistic virtual try-on by seamlessly compositing the "
    "dress onto the person. Provide exactly 3 images (9:16 aspect ratio) as output: one from "
    "the front, one from the back, and one from the side."
)


class TryOn(BaseModel):
    front: ImageRef
    back: ImageRef
    side: ImageRef


def _red(img: Image.Image) -> np.ndarray:
    a = np.asarray(img).astype(int)
    return (a[..., 0] > 170) & (a[..., 1] < 80) & (a[..., 2] < 110)  # the sample dress


def test_try_on_composites_the_garment_onto_the_person(tmp_path, store):
    dress = _image_input(tmp_path, samples.sample_garment(), "dress.png")
    person_img = samples.sample_person()
    person = _image_input(tmp_path, person_img, "person.png")
    answer = json.loads(
        ops.respond(TRY_ON_PROMPT, [dress, person], TryOn.model_json_schema(), store)
    )
    front, back, side = (_decoded(store, answer[k]["id"]) for k in ("front", "back", "side"))
    assert len({answer[k]["id"] for k in ("front", "back", "side")}) == 3
    for view in (front, back, side):
        assert abs(view.width / view.height - 9 / 16) < 0.01  # padded to the asked 9:16
    assert not _red(person_img).any()
    red = _red(front)
    assert red.sum() > 0.05 * red.size  # the dress is on the picture...
    ys, xs = np.nonzero(red)
    (fx, fy, fw, fh), *_ = media.detect_faces(person_img)
    pad_y = (front.height - person_img.height) // 2
    assert ys.min() > fy + pad_y + fh * 0.8  # ...below the face, over the torso
    assert abs(xs.mean() - front.width / 2) < front.width * 0.05  # centred on the body
    assert media.detect_faces(front)  # the face stays visible from the front
    assert not media.detect_faces(back)  # not from behind
    # the side view is the body turned: the dress is much narrower than from the front
    side_xs = np.nonzero(_red(side))[1]
    assert np.ptp(side_xs) < 0.6 * np.ptp(xs)


def test_try_on_views_count_and_roles(tmp_path, store):
    dress = _image_input(tmp_path, samples.sample_garment(), "dress.png")
    person = _image_input(tmp_path, samples.sample_person(), "person.png")

    class Views(BaseModel):
        views: list[ImageRef]

    prompt = "Virtual try-on: put the dress from the second image on the person in the first image, 4 views"
    answer = json.loads(ops.respond(prompt, [person, dress], Views.model_json_schema(), store))
    assert len(answer["views"]) == 4
    pictures = [_decoded(store, v["id"]) for v in answer["views"]]
    assert all(_red(p).sum() > 1000 for p in pictures)  # the garment was found in image 2
    assert len({p.tobytes() for p in pictures}) == 4
    with pytest.raises(ops.Unsupported, match="two images"):
        ops.respond("virtual try-on", [person], None, store)
