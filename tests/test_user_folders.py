"""Your own images: `cxrvlp data list`, the folder and csv adapters, the preprocessing that comes with a loaded model
(any kind of image input) and prompt files."""
import numpy as np
import pytest
import torch
from PIL import Image

from _layouts import write_dicom
from cxrvlp.cli import main
from cxrvlp.data.adapters import ADAPTERS, get_adapter, load_studies
from cxrvlp.evaluation.prompts import read_prompts
from cxrvlp.export.preprocess import ImagePreprocess, PreprocessConfig


def _ramp(h=40, w=32) -> np.ndarray:
    """uint8 values 0..255 (min 0 and max 255, so every scaling rule gives the same grey image)."""
    return np.linspace(0, 255, h * w).reshape(h, w).round().astype(np.uint8)


def test_data_list_prints_every_adapter_in_one_line(capsys):
    assert main(["data", "list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(ADAPTERS)
    names = [line.split("\t")[0] for line in lines]
    assert names == list(ADAPTERS) and {"folder", "csv", "phantom", "mimic_cxr"} <= set(names)
    assert all(len(line.split("\t")) == 2 and line.split("\t")[1].strip() for line in lines)
    assert all(a.layout for a in ADAPTERS.values())


@pytest.fixture
def user_folder(tmp_path):
    """Images of every kind a user has, a report beside one, labels for some, and rows that must be skipped."""
    root = tmp_path / "mine"
    (root / "sub").mkdir(parents=True)
    a = _ramp()
    Image.fromarray(a).save(root / "grey8.png")
    Image.fromarray(a.astype(np.uint16) * 257).save(root / "grey16.png")
    Image.fromarray(np.stack([a] * 3, -1)).save(root / "sub" / "colour.jpg", quality=95)
    Image.fromarray(a.astype(np.float32) / 7.0).save(root / "float.tif")
    write_dicom(root / "scan.dcm", a.astype(np.uint16) * 16, bits_stored=12)
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    Image.fromarray(a).save(root / "grey8.tif")  # a second file with the id grey8: counted, the PNG kept
    (root / ".hidden").mkdir()
    Image.fromarray(a).save(root / ".hidden" / "skip.png")
    (root / "grey8.txt").write_text("FINDINGS: Small left pleural effusion.\nIMPRESSION: Effusion.\n")
    (root / "labels.csv").write_text("image,view,split,effusion,cardiomegaly\n"
                                     "grey8.png,PA,train,1,0\n"
                                     "sub/colour,,test,0,1\n"
                                     "scan.dcm,LATERAL,,1,\n"
                                     "missing.png,,,1,1\n"
                                     "grey16.png,,val,x,0\n")
    return root


def test_folder_adapter(user_folder):
    assert get_adapter("folder").labels_for(str(user_folder)) == ("effusion", "cardiomegaly")
    studies, skips = load_studies("folder", str(user_folder), ("train", "validate", "test"))
    by_id = {s.study_id: s for s in studies}
    assert set(by_id) == {"grey8", "grey16", "sub/colour", "float"}  # scan.dcm: lateral only; broken.png: truncated
    assert by_id["grey8"].split == "train" and by_id["sub/colour"].split == "test" and by_id["grey16"].split == \
        "validate"
    assert by_id["grey8"].frontal[0].view == "PA" and by_id["float"].frontal[0].view == "FRONTAL"
    assert by_id["grey8"].labels == {"effusion": 1.0, "cardiomegaly": 0.0}
    assert by_id["grey16"].labels == {"cardiomegaly": 0.0}  # the unreadable cell is left out and counted
    assert by_id["grey8"].report_text() == "Small left pleural effusion. Effusion."
    assert by_id["float"].report_text() == "" and by_id["float"].labels == {}
    assert skips.counts == {"label row names no image file": 1, "unreadable label cell": 1,
                            "study without a usable frontal image": 2, "truncated PNG (no IEND chunk)": 1,
                            "second image file with the same name": 1}
    assert by_id["grey8"].frontal[0].path.suffix == ".png"
    only_train = {s.study_id for s in load_studies("folder", str(user_folder), ("train",))[0]}
    assert "grey8" in only_train and not only_train & {"grey16", "sub/colour"}  # "float": its patient hash decides


def test_csv_adapter_groups_views_and_reads_reports(tmp_path):
    root = tmp_path / "table"
    (root / "img").mkdir(parents=True)
    for name in ("f1", "l1", "f2"):
        Image.fromarray(_ramp()).save(root / "img" / f"{name}.png")
    (root / "r2.txt").write_text("IMPRESSION: No acute process.")
    (root / "images.csv").write_text("path,study_id,view,report,report_path,split,edema\n"
                                     "img/f1.png,s1,PA,\"Mild edema.\",,train,1\n"
                                     "img/l1.png,s1,LATERAL,,,train,\n"
                                     "img/f2.png,s2,AP,,r2.txt,test,0\n"
                                     "img/gone.png,s3,PA,text,,test,1\n"
                                     ",s4,PA,,,train,0\n")
    assert get_adapter("csv").labels_for(str(root)) == ("edema",)
    studies, skips = load_studies("csv", str(root), ("train", "validate", "test"))
    by_id = {s.study_id: s for s in studies}
    assert set(by_id) == {"s1", "s2"}
    assert len(by_id["s1"].frontal) == 1 and len(by_id["s1"].lateral) == 1 and by_id["s1"].labels == {"edema": 1.0}
    assert by_id["s1"].report_text() == "Mild edema." and by_id["s2"].report_text() == "No acute process."
    assert skips.counts == {"missing image file": 1, "study without a usable frontal image": 1,
                            "row without an image path": 1}
    same, _ = load_studies("csv", str(root / "images.csv"), ("train", "validate", "test"))  # the CSV itself as root
    assert [s.study_id for s in same] == [s.study_id for s in studies]


def test_preprocess_takes_every_kind_of_input(user_folder):
    pre = ImagePreprocess(PreprocessConfig(resize=36, crop=32, mean=(0.5,), std=(0.25,)))
    ref = pre(user_folder / "grey8.png")
    assert ref.shape == (1, 32, 32) and ref.dtype == torch.float32
    a = _ramp()
    same = {
        "path str": pre(str(user_folder / "grey8.png")),
        "16-bit png": pre(user_folder / "grey16.png"),
        "float tiff": pre(user_folder / "float.tif"),
        "PIL": pre(Image.fromarray(a)),
        "uint8": pre(a),
        "uint16": pre(a.astype(np.uint16) * 257),
        "int32": pre(a.astype(np.int32) - 1000),
        "float64": pre(a / 255.0),
        "RGB uint8": pre(np.stack([a] * 3, -1)),
        "RGBA uint8": pre(np.concatenate([np.stack([a] * 3, -1), np.full((*a.shape, 1), 7, np.uint8)], -1)),
        "RGB float": pre(np.stack([a / 255.0] * 3, -1)),
        "[1, H, W]": pre(a[None]),
        "torch": pre(torch.from_numpy(a)),
    }
    for name, x in same.items():
        torch.testing.assert_close(x, ref, atol=2e-6, rtol=0, msg=name)
    torch.testing.assert_close(pre(np.zeros((4, 4), bool)), pre(np.zeros((4, 4), np.uint8)))
    dicom = pre(user_folder / "scan.dcm")  # 12-bit DICOM without a window: min-max to 8 bits
    assert dicom.shape == (1, 32, 32) and (dicom - ref).abs().max() < 0.02
    three = ImagePreprocess(PreprocessConfig(resize=36, crop=32, mean=(0.1, 0.2, 0.3), std=(1.0, 1.0, 2.0),
                                             in_chans=3))(a)
    torch.testing.assert_close(three[2], (ref[0] * 0.25 + 0.5 - 0.3) / 2.0)
    with pytest.raises(TypeError, match="expected a file path"):
        pre(3.0)
    with pytest.raises(ValueError, match="shape"):
        pre(np.zeros((2, 3, 4, 5)))
    with pytest.raises(OSError, match="cannot read"):
        pre(user_folder / "broken.png")
    with pytest.warns(UserWarning, match="constant image"):
        assert torch.isfinite(pre(np.full((8, 8), 300, np.uint16))).all()


def test_prompt_file(tmp_path):
    good = tmp_path / "p.yaml"
    good.write_text("effusion:\n  positive: [Pleural effusion., Small effusion.]\n  negative: No effusion.\n")
    assert read_prompts(good) == {"effusion": (("Pleural effusion.", "Small effusion."), ("No effusion.",))}
    for text, match in (("effusion: [a]\n", "must map to"), ("effusion:\n  positive: [a]\n", "needs non-empty"),
                        ("- a\n", "expected a mapping"), ("x:\n  positive: [a]\n  negativ: [b]\n", "must map to")):
        good.write_text(text)
        with pytest.raises(ValueError, match=match):
            read_prompts(good)
