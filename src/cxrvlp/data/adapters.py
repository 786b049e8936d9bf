"""Data adapters by name: each yields :class:`~cxrvlp.data.study.Study` records from a data set in its own layout."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, Iterator

from cxrvlp.data import (
    chexpert,
    covid_chestxray,
    covidx,
    folder,
    nih_cxr14,
    rsna_pneumonia,
    shared_covid,
    shared_lungs,
    siim_acr,
)
from cxrvlp.data.chexpert import CHEXPERT_14
from cxrvlp.data.iu_xray import read_iu_xray
from cxrvlp.data.mimic_cxr import SkipLog, read_mimic_cxr
from cxrvlp.data.phantom import read_phantom
from cxrvlp.data.prepared.reader import prepared_label_names, read_prepared
from cxrvlp.data.study import Study

PHANTOM_FINDINGS = ("cardiomegaly", "pleural_effusion", "pneumothorax", "consolidation", "nodule", "mass",
                    "atelectasis", "edema", "retrocardiac_opacity", "support_devices")


@dataclass(frozen=True)
class Adapter:
    read: Callable[..., Iterator[Study]]  # read(root, splits=..., skips=...)
    label_names: tuple[str, ...]
    labels_from_root: Callable[[str], tuple[str, ...]] | None = None  # when the names depend on the data folder
    layout: str = ""  # the files it expects under root, in one line (`cxrvlp data list`, docs/datasets.md)

    def labels_for(self, root: str) -> tuple[str, ...]:
        return self.labels_from_root(root) if self.labels_from_root else self.label_names


ADAPTERS: dict[str, Adapter] = {
    "mimic_cxr": Adapter(read_mimic_cxr, CHEXPERT_14, layout=(
        "mimic-cxr-2.0.0-{metadata,split,chexpert|negbio}.csv + files/pXX/pN/sN/<dicom_id>.jpg, reports "
        "files/pXX/pN/sN.txt or mimic-cxr-reports.zip")),
    "phantom": Adapter(read_phantom, PHANTOM_FINDINGS, layout=(
        "`cxrvlp phantom` output: the MIMIC-CXR-JPG layout + phantom_ground_truth.jsonl, masks/")),
    "prepared": Adapter(read_prepared, (), labels_from_root=prepared_label_names, layout=(  # `cxrvlp data prepare`
        "`cxrvlp data prepare` output: manifest.json + shards/NNNNN/{images.npy,masks.npy,index.json}")),
    # your own images (data/folder.py)
    "folder": Adapter(folder.read_folder, (), labels_from_root=folder.folder_label_names, layout=(
        "any folder of .png (8/16-bit) .jpg .dcm .tif images, one study each; optional <stem>.txt report beside "
        "it and labels.csv (image, [split, view, patient_id], label columns)")),
    "csv": Adapter(folder.read_csv, (), labels_from_root=folder.csv_label_names, layout=(
        "images.csv (path, [study_id, patient_id, view, split, report | report_path], label columns); "
        "paths relative to the CSV")),
    # public releases in their official layouts (docs/datasets.md)
    "iu_xray": Adapter(read_iu_xray, (), layout=(
        "indiana_reports.csv + indiana_projections.csv + images/, or R2Gen annotation.json + images/<id>/, or "
        "Open-i ecgen-radiology/*.xml + NLMCXR_png/")),
    "chexpert": Adapter(chexpert.read_chexpert, CHEXPERT_14, layout=(
        "CheXpert-v1.0[-small]/{train,valid}.csv (Path, Frontal/Lateral, AP/PA, 14 labels) + the images they name")),
    "nih_cxr14": Adapter(nih_cxr14.read_nih_cxr14, nih_cxr14.LABELS, layout=(
        "Data_Entry_2017[_v2020].csv, BBox_List_2017.csv, train_val_list.txt, test_list.txt, images*/")),
    "rsna_pneumonia": Adapter(rsna_pneumonia.read_rsna_pneumonia, rsna_pneumonia.LABELS, layout=(
        "stage_2_train_labels.csv, stage_2_detailed_class_info.csv, stage_2_train_images/<patientId>.dcm")),
    "siim_acr": Adapter(siim_acr.read_siim_acr, siim_acr.LABELS, layout=(
        "train-rle.csv or stage_2_train.csv (ImageId, EncodedPixels) + DICOMs found by SOPInstanceUID below root")),
    "covidx": Adapter(covidx.read_covidx, covidx.LABELS, layout=(
        "train.txt, val.txt, test.txt (patient filename class source) + train/, val/, test/")),
    "covid_chestxray": Adapter(covid_chestxray.read_covid_chestxray, covid_chestxray.LABELS, layout=(
        "ieee8023 metadata.csv (patientid, offset, finding, view, modality, folder, filename, clinical_notes) + "
        "images/")),
    # the folders of ../shared/data
    "covid_cxr_notes": Adapter(shared_covid.read_covid_cxr_notes, covid_chestxray.LABELS, layout=(
        "../shared/data/covid_cxr_notes: images.csv, images/, annotations/{lung_bboxes.json, lungVAE_masks.csv, "
        "covid_severity_scores.csv}")),
    "covid_cxr_segmentations": Adapter(shared_covid.read_covid_cxr_segmentations, covid_chestxray.LABELS, layout=(
        "../shared/data/covid_cxr_segmentations: images.csv (one column per class), images/, masks/<class>/")),
    "covid_cxr_v7_lungs": Adapter(shared_covid.read_covid_cxr_v7_lungs, (), layout=(
        "../shared/data/covid_cxr_v7_lungs: v7_lungs.csv, masks/, masks_lr/, ignore/; images in ../covid_cxr_notes")),
    "iu_xray_reports": Adapter(partial(read_iu_xray, require_images=False), (), layout=(  # reports only, no images
        "../shared/data/iu_xray_reports: source/indiana_reports.csv, source/indiana_projections.csv, "
        "source/r2gen_iu_xray_annotation.json (reports only)")),
    "jsrt_lungs": Adapter(shared_lungs.read_jsrt_lungs, shared_lungs.JSRT_LABELS, layout=(
        "../shared/data/jsrt_lungs: jsrt_lungs.csv, images/, masks/ (0 / 1 right lung / 2 left lung / 3 heart)")),
    "montgomery_lungs": Adapter(shared_lungs.read_montgomery_lungs, shared_lungs.TB_LABELS, layout=(
        "../shared/data/montgomery_lungs: montgomery_lungs.csv, images/, masks/, masks_lr/")),
    "shenzhen_tb": Adapter(shared_lungs.read_shenzhen_tb, shared_lungs.TB_LABELS, layout=(
        "../shared/data/shenzhen_tb: shenzhen_tb.csv, images/, masks/, masks_lr/")),
}


def get_adapter(name: str) -> Adapter:
    if name not in ADAPTERS:
        raise KeyError(f"unknown data adapter {name!r}; known: {sorted(ADAPTERS)}")
    return ADAPTERS[name]


def load_studies(name: str, root: str, splits: tuple[str, ...]) -> tuple[list[Study], SkipLog]:
    skips = SkipLog()
    return list(get_adapter(name).read(root, splits=splits, skips=skips)), skips
