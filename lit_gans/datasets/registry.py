"""The datasets the experiments name: official URLs, archive layout, published sizes/checksums, target layout.

Every entry says where its URL and its layout come from, and where its size and checksum come from. Where no
size or checksum is published the entry says so: the download is then checked against the server's
``Content-Length`` and by reading the whole archive (zip CRC-32 of every member, gzip CRC-32 of the stream),
and the sha256 of what was downloaded is recorded in the dataset folder's marker file
(``.lit_gans_dataset.json``) for later comparison.

Sources of URLs and layouts:

* pix2pix sets: junyanz/pytorch-CycleGAN-and-pix2pix ``datasets/download_pix2pix_dataset.sh``
  (``http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/$FILE.tar.gz``, extracted into ``./datasets/``: each
  archive holds ``<name>/train/``, ``<name>/val/`` (and ``test/`` for facades and night2day) of A|B images side
  by side, read by ``data/aligned_dataset.py``). The script refuses ``cityscapes`` (license): it must be made
  from the Cityscapes site with ``datasets/prepare_cityscapes_dataset.py``.
* CycleGAN sets: the same repository's ``datasets/download_cyclegan_dataset.sh``
  (``http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/$FILE.zip``; earlier versions of the script named the
  same files under ``https://people.eecs.berkeley.edu/~taesung_park/CycleGAN/datasets/``), unzipped into
  ``./datasets/``: ``<name>/trainA``, ``trainB``, ``testA``, ``testB`` (``data/unaligned_dataset.py``).
* DIV2K: the official site https://data.vision.ee.ethz.ch/cvl/DIV2K/ (``DIV2K_train_HR.zip`` holds
  ``DIV2K_train_HR/0001.png``...; ``DIV2K_train_LR_bicubic_X4.zip`` holds ``DIV2K_train_LR_bicubic/X4/0001x4.png``),
  the layout BasicSR's ``docs/DatasetPreparation.md`` trains on (``datasets/DIV2K/DIV2K_train_HR``,
  ``datasets/DIV2K/DIV2K_train_LR_bicubic/X4``).
* SR test sets (Set5, Set14, BSD100, Urban100): BasicSR's ``docs/DatasetPreparation.md`` lists them behind Google
  Drive / Baidu links (no plain HTTP download); the EDSR authors publish the same four sets in one archive,
  ``https://cv.snu.ac.kr/research/EDSR/benchmark.tar`` (sanghyun-son/EDSR-PyTorch README, "benchmark datasets"):
  ``benchmark/<Set5|Set14|B100|Urban100>/HR/*.png`` and ``LR_bicubic/X{2,3,4}/*x{s}.png``. That is a layout
  ``datamodules.super_resolution.find_test_layout`` reads.
* COCO: https://cocodataset.org/#download (``http://images.cocodataset.org/zips/train2017.zip``, holding
  ``train2017/*.jpg``). The colorization tutorial (Shariatnia, "Colorizing black & white images with U-Net and
  conditional GAN", 2020) trains on fastai's COCO sample, ``URLs.COCO_SAMPLE`` =
  ``https://s3.amazonaws.com/fast-ai-coco/coco_sample.tgz`` (fastai ``fastai/data/external.py``), which holds
  ``coco_sample/train_sample/*.jpg`` (10,000 images) and ``coco_sample/annotations/train_sample.json``.
* MNIST: torchvision ``datasets.MNIST.mirrors`` / ``.resources`` (URLs and md5 of the four ``.gz`` files),
  unpacked into ``<root>/MNIST/raw/`` as torchvision does.

Published sizes and checksums used (``Archive.source`` names the one of each file):

* TensorFlow Datasets ``tensorflow_datasets/url_checksums/cycle_gan.txt`` (size and sha256 of the CycleGAN zips,
  recorded from the ``people.eecs.berkeley.edu/~taesung_park`` URLs), ``div2k.txt`` (DIV2K zips) and
  ``coco2017.txt`` (``train2017.zip``);
* fastai ``fastai/data/checks.txt``: size and the md5 of the first MiB of ``coco_sample.tgz`` (fastai's own check);
* Coloquinte/torchSR ``torchsr/datasets/benchmarks.py``: md5 of ``benchmark.tar``;
* torchvision ``datasets/mnist.py``: md5 of the MNIST files.

None is published for the pix2pix archives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Optional

JUNYANZ = "junyanz/pytorch-CycleGAN-and-pix2pix"
PIX2PIX_SCRIPT = f"{JUNYANZ} datasets/download_pix2pix_dataset.sh"
CYCLEGAN_SCRIPT = f"{JUNYANZ} datasets/download_cyclegan_dataset.sh"
TFDS = "TensorFlow Datasets tensorflow_datasets/url_checksums"
NONE_PUBLISHED = "none published: checked against Content-Length and the archive's own CRCs; sha256 recorded in the marker"


@dataclass(frozen=True)
class Archive:
    """One file to fetch. ``urls``: the official URL first, then official alternatives (tried in order when a
    host cannot be reached). ``member``: the folder inside the archive that becomes the dataset folder ("" =
    the archive's top level); ``kind``: 'zip', 'tar' (any compression) or 'gz' (one gzip-compressed file,
    unpacked under its name without ``.gz``)."""

    urls: tuple[str, ...]
    kind: str
    member: str = ""
    size: Optional[int] = None
    sha256: Optional[str] = None
    md5: Optional[str] = None
    md5_first_mib: Optional[str] = None  # fastai's check: md5 of the first 2**20 bytes
    source: str = NONE_PUBLISHED

    @property
    def filename(self) -> str:
        return PurePosixPath(self.urls[0].split("?")[0]).name

    @property
    def published(self) -> bool:
        return any(v is not None for v in (self.size, self.sha256, self.md5, self.md5_first_mib))


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: where its files come from and the folder they make.

    ``folder``: the dataset folder relative to ``--root`` (what a datamodule's ``root`` points at, e.g.
    ``facades`` or ``DIV2K/DIV2K_train_HR``); ``required``: paths in it that must exist (a non-empty folder or a
    file) once it is complete; ``layout``: the layout in words, for messages and docs; ``page``: where to get
    it by hand (a form or a drive when ``archives`` is empty)."""

    name: str
    family: str
    folder: str
    layout: str
    required: tuple[str, ...]
    page: str
    archives: tuple[Archive, ...] = ()
    cite: str = ""
    experiments: tuple[str, ...] = ()
    note: str = ""
    aliases: tuple[str, ...] = field(default=())

    @property
    def manual(self) -> bool:
        return not self.archives

    @property
    def size(self) -> Optional[int]:
        sizes = [a.size for a in self.archives]
        return sum(sizes) if sizes and all(s is not None for s in sizes) else None  # type: ignore[misc]


DATASETS: dict[str, DatasetSpec] = {}


def _add(spec: DatasetSpec) -> None:
    if spec.name in DATASETS:
        raise ValueError(f"duplicate dataset name {spec.name}")
    DATASETS[spec.name] = spec


# ------------------------------------------------------------------------------------------------ pix2pix
PIX2PIX_BASE = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/"
#: name -> (splits in the archive, what it is). Splits: the folders of the archive (junyanz README "pix2pix
#: datasets" and the archives themselves: facades and night2day also ship test/).
PIX2PIX = {
    "facades": (("train", "val", "test"), "400 CMP Facades label maps | photos (Tylecek & Sara 2013)"),
    "maps": (("train", "val"), "1096 Google Maps aerial photos | maps"),
    "edges2shoes": (("train", "val"), "50k shoe photos with HED edges (Zappos50K)"),
    "edges2handbags": (("train", "val"), "137k Amazon handbag photos with HED edges"),
    "night2day": (("train", "val", "test"), "20k night | day webcam frames (Laffont et al. 2014)"),
}
for _name, (_splits, _what) in PIX2PIX.items():
    _add(DatasetSpec(
        name=_name, family="pix2pix", folder=_name,
        layout="{" + ",".join(_splits) + "}/*.jpg, each image A | B side by side",
        required=("train", "val"),
        page="https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix/blob/master/docs/datasets.md",
        archives=(Archive(urls=(f"{PIX2PIX_BASE}{_name}.tar.gz",), kind="tar", member=_name),),
        cite=PIX2PIX_SCRIPT, note=_what,
        experiments=("pix2pix_facades",) if _name == "facades" else (),
    ))
_add(DatasetSpec(
    name="cityscapes", family="pix2pix", folder="cityscapes",
    layout="{train,val}/*.jpg, each image photo | label map side by side (made by "
           "datasets/prepare_cityscapes_dataset.py of junyanz/pytorch-CycleGAN-and-pix2pix)",
    required=("train", "val"),
    page="https://www.cityscapes-dataset.com (register; download gtFine_trainvaltest.zip and leftImg8bit_trainvaltest.zip, "
         "then run datasets/prepare_cityscapes_dataset.py of junyanz/pytorch-CycleGAN-and-pix2pix)",
    cite=PIX2PIX_SCRIPT + " (refuses cityscapes: license)",
    note="Cityscapes photos | label maps; not redistributed (license)",
))

# ------------------------------------------------------------------------------------------------ CycleGAN
CYCLEGAN_BASE = "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/"
#: name -> (size, sha256) from TFDS url_checksums/cycle_gan.txt (recorded from the taesung_park URLs).
CYCLEGAN = {
    "horse2zebra": (116867962, "a74d9d392eecca9966b51287a76ca126af473d9de4f3e8fc0e9cda08fa1730a1"),
    "apple2orange": (78456409, "845a191e9af8926408ea597001cd03a452e3300a1f44a79fe329b3d59f6e3eb8"),
    "summer2winter_yosemite": (132640856, "167fe1726807a9d22bd106b4a6c0bd7953b688af924ac1bf967439c4961e49f9"),
    "monet2photo": (305231073, "88f91b00fc228f97c9411fbf1880ec1d119c98f1722e4cfcfaa2fb35fac05b04"),
    "cezanne2photo": (279885071, "3a6c10ca21f9485862f1cbd707744b9dc258954a04631271d23a3605eeb63cff"),
    "ukiyoe2photo": (292946532, "02a2a2fb5ecf425ca1bf86aca7304377da64a2a1d3b86df54eb65e4068bf3b08"),
    "vangogh2photo": (306590349, "362c3473e70be0944bda08d49d660eafdc2854df55d697835b8186d1d79caaff"),
    "maps": (1476754427, "639534f69dbf9f36bef8d6292a7698006361221f83f0285d7c9ca78afe6e8a9e"),
    "facades": (35135868, "9a31ebf3a31b9b5cd195dd5bf62e9308e00cb94604d1019e3889ac84248695c0"),
    "iphone2dslr_flower": (339964458, "8fcb5e374d631b107e1d961b8c4cd0a186aa2a4ff3e279923f4c426128de7113"),
}
for _file, (_size, _sha) in CYCLEGAN.items():
    # maps and facades exist in both families: the CycleGAN ones are cyclegan_maps / cyclegan_facades
    _name = f"cyclegan_{_file}" if _file in PIX2PIX else _file
    _add(DatasetSpec(
        name=_name, family="cyclegan", folder=_name,
        layout="trainA/, trainB/, testA/, testB/ (images of the two domains)",
        required=("trainA", "trainB", "testA", "testB"),
        page="https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix/blob/master/docs/datasets.md",
        archives=(Archive(
            urls=(f"{CYCLEGAN_BASE}{_file}.zip",), kind="zip", member=_file, size=_size, sha256=_sha,
            source=f"{TFDS}/cycle_gan.txt (recorded from https://people.eecs.berkeley.edu/~taesung_park/CycleGAN/datasets/{_file}.zip)",
        ),),
        cite=CYCLEGAN_SCRIPT,
        experiments=("cyclegan_horse2zebra",) if _file == "horse2zebra" else (),
    ))

# ------------------------------------------------------------------------------------------------ DIV2K
DIV2K_BASE = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"
#: zip name -> (size, sha256) from TFDS url_checksums/div2k.txt.
DIV2K = {
    "DIV2K_train_HR": (3530603713, "9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335"),
    "DIV2K_valid_HR": (448993893, "20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc"),
    "DIV2K_train_LR_bicubic_X2": (925390592, "a53a424317575838dadce4bcd97cf7b744d6855f43740ed5f0245af3cf4bd850"),
    "DIV2K_train_LR_bicubic_X3": (427847282, "ad5c8e5507e2765823d3c2c5bd0934842efcd487c5370604c224090898b3163a"),
    "DIV2K_train_LR_bicubic_X4": (246914039, "f006b837f4eb52b82909aa01478e6d6d199eefce932179491d0c9dbb706dde3a"),
    "DIV2K_valid_LR_bicubic_X2": (117763600, "60eed9875c697df51204aa579e2a699e1d5215095788a097ff54dd17e2664d57"),
    "DIV2K_valid_LR_bicubic_X3": (54513392, "04b9a2ed3b4a0715d3924d3ae8514830c3328fac8d30512ce716d6f419e052a3"),
    "DIV2K_valid_LR_bicubic_X4": (31505881, "a50a5d1c4b88de4e8d300d8fb2b904c52fe93b2b298a4899697760d7cbb6d553"),
}
for _zip, (_size, _sha) in DIV2K.items():
    if _zip.endswith("_HR"):
        _member, _layout, _n = _zip, "0001.png ...", "800" if "train" in _zip else "100"
        _required: tuple[str, ...] = ()
    else:  # DIV2K_train_LR_bicubic_X4.zip holds DIV2K_train_LR_bicubic/X4/0001x4.png
        _split, _scale = _zip.split("_")[1], _zip[-1]
        _member = f"DIV2K_{_split}_LR_bicubic/X{_scale}"
        _layout, _n = f"0001x{_scale}.png ...", "800" if _split == "train" else "100"
    _add(DatasetSpec(
        name=_zip.lower(), family="div2k", folder=f"DIV2K/{_member}",
        layout=f"{_layout} ({_n} PNG images)", required=(),
        page="https://data.vision.ee.ethz.ch/cvl/DIV2K/",
        archives=(Archive(urls=(f"{DIV2K_BASE}{_zip}.zip",), kind="zip", member=_member, size=_size, sha256=_sha,
                          source=f"{TFDS}/div2k.txt"),),
        cite="https://data.vision.ee.ethz.ch/cvl/DIV2K/ (Agustsson & Timofte 2017); layout as XPixelGroup/BasicSR docs/DatasetPreparation.md",
        experiments=("srresnet_div2k", "srgan_div2k", "rrdb_psnr_div2k", "esrgan_div2k") if _zip == "DIV2K_train_HR" else (),
    ))

# ------------------------------------------------------------------------------------------------ SR test sets
BENCHMARK = Archive(
    urls=("https://cv.snu.ac.kr/research/EDSR/benchmark.tar",), kind="tar",
    md5="4ace41d33c2384b97e6b320cd0afd6ba", source="Coloquinte/torchSR torchsr/datasets/benchmarks.py (md5)",
)
for _name, _folder, _inner, _n, _exp in (
    ("set5", "Set5", "Set5", 5, ("srresnet_div2k", "srgan_div2k", "rrdb_psnr_div2k")),
    ("set14", "Set14", "Set14", 14, ("esrgan_div2k",)),
    ("bsd100", "BSD100", "B100", 100, ()),
    ("urban100", "Urban100", "Urban100", 100, ()),
):
    _add(DatasetSpec(
        name=_name, family="sr_benchmark", folder=_folder,
        layout=f"HR/*.png ({_n} images) and LR_bicubic/X2, X3, X4/*x<s>.png (EDSR benchmark layout)",
        required=("HR", "LR_bicubic/X4"),
        page="https://github.com/sanghyun-son/EDSR-PyTorch (README: benchmark datasets); also the Google Drive of "
             "XPixelGroup/BasicSR docs/DatasetPreparation.md (Set5/GTmod12 + Set5/LRbicx4 layout, read as well)",
        archives=(Archive(urls=BENCHMARK.urls, kind="tar", member=f"benchmark/{_inner}", md5=BENCHMARK.md5,
                          source=BENCHMARK.source),),
        cite="XPixelGroup/BasicSR docs/DatasetPreparation.md (the test sets); sanghyun-son/EDSR-PyTorch README (benchmark.tar)",
        experiments=_exp,
    ))

# ------------------------------------------------------------------------------------------------ COCO
_add(DatasetSpec(
    name="coco_sample", family="coco", folder="coco_sample",
    layout="train_sample/*.jpg (10,000 COCO images) and annotations/train_sample.json",
    required=("train_sample",),
    page="https://course.fast.ai/datasets (COCO sample)",
    archives=(Archive(urls=("https://s3.amazonaws.com/fast-ai-coco/coco_sample.tgz",), kind="tar", member="coco_sample",
                      size=3245877008, md5_first_mib="006cd55d633d94b36ecaf661467830ec",
                      source="fastai fastai/data/checks.txt (size; md5 of the first MiB)"),),
    cite="fastai fastai/data/external.py URLs.COCO_SAMPLE; the colorization tutorial (Shariatnia 2020) trains on it",
    note="the colorization tutorial's data: use --data.init_args.root=<root>/coco_sample --data.init_args.dataset=coco_sample",
))
_add(DatasetSpec(
    name="coco_train2017", family="coco", folder="coco/train2017",
    layout="*.jpg (118,287 images: the train2017/ folder of train2017.zip)", required=(),
    page="https://cocodataset.org/#download",
    archives=(Archive(urls=("http://images.cocodataset.org/zips/train2017.zip",), kind="zip", member="train2017",
                      size=19336861798, sha256="69a8bb58ea5f8f99d24875f21416de2e9ded3178e903f1f7603e283b9e06d929",
                      source=f"{TFDS}/coco2017.txt"),),
    cite="https://cocodataset.org/#download (Lin et al. 2014)",
    experiments=("colorization_coco_pretrain", "colorization_coco", "colorization_coco_resunet"),
))

# ------------------------------------------------------------------------------------------------ MNIST
MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
MNIST_FILES = {  # torchvision datasets/mnist.py MNIST.resources
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
_add(DatasetSpec(
    name="mnist", family="mnist", folder="MNIST/raw",
    layout="train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte "
           "(torchvision's <root>/MNIST/raw; --data.init_args.root is the folder above MNIST/)",
    required=tuple(f[:-3] for f in MNIST_FILES),
    page="http://yann.lecun.com/exdb/mnist/",
    archives=tuple(Archive(urls=tuple(m + f for m in MNIST_MIRRORS), kind="gz", md5=md5,
                           source="torchvision datasets/mnist.py (md5)") for f, md5 in MNIST_FILES.items()),
    cite="torchvision datasets/mnist.py (MNIST.mirrors, MNIST.resources)",
    experiments=("gan_mnist", "dcgan_mnist", "wgan_mnist", "wgan_gp_mnist", "cgan_mnist", "progan_mnist"),
))

# ------------------------------------------------------------------------------------------------ behind forms / drives
_add(DatasetSpec(
    name="celeba", family="manual", folder="celeba/img_align_celeba",
    layout="000001.jpg ... 202599.jpg (the img_align_celeba/ folder of img_align_celeba.zip, in the Img/ folder)",
    required=(),
    page="https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (Google Drive / Baidu links; agree to the terms)",
    cite="Liu et al. 2015; tkarras/progressive_growing_of_gans dataset_tool.py create_celeba reads img_align_celeba",
    experiments=("progan_celeba",),
))
_add(DatasetSpec(
    name="enlightengan", family="manual", folder="enlightengan",
    layout="trainA/ (low-light images), trainB/ (normal-light images), optional testA/ "
           "(the trainA/ and trainB/ of the EnlightenGAN README's training data)",
    required=("trainA", "trainB"),
    page="https://github.com/VITA-Group/EnlightenGAN (README, Dataset preparing: Training data [Google Drive])",
    cite="VITA-Group/EnlightenGAN README",
    experiments=("enlightengan",),
))
_add(DatasetSpec(
    name="lol", family="manual", folder="LOL/eval15",
    layout="low/*.png and high/*.png, the same 15 file names (LOLdataset/eval15 of the archive)",
    required=("low", "high"),
    page="https://daooshee.github.io/BMVC2018website/ (LOL dataset: Google Drive / Baidu links)",
    cite="Wei et al. 2018 (RetinexNet), BMVC 2018 project page",
    experiments=("enlightengan",),
    note="EnlightenGAN's optional paired evaluation set (--data.init_args.paired_root)",
))
_add(DatasetSpec(
    name="paris_streetview", family="manual", folder="paris_streetview/paris_train",
    layout="*.JPG (paris_train/: 14,900 training images; its sibling paris_eval_gt/ holds the 100 evaluation images)",
    required=(),
    page="https://github.com/pathak22/context-encoder (README and its issue #24: the authors share the data set on "
         "request; it is not downloadable)",
    cite="Pathak et al. 2016; Doersch et al. 2012",
    experiments=("context_encoder_paris",),
    aliases=("paris_eval_gt",),
))


def get(name: str) -> DatasetSpec:
    """The entry called ``name`` (case-insensitive; ``-`` and ``_`` alike), or a ConfigError listing the names."""
    from lit_gans.errors import ConfigError

    key = name.strip().lower().replace("-", "_")
    if key in DATASETS:
        return DATASETS[key]
    raise ConfigError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))} (`python -m lit_gans.datasets list`)")


def infer(path: str) -> list[str]:
    """Names of the entries whose default folder best matches the end of ``path`` (case-insensitive): the most
    trailing components in common, at least the last one. Several names = ambiguous; none = unknown."""
    parts = [p.lower() for p in PurePosixPath(str(path).replace("\\", "/")).parts if p not in ("", ".", "/")]
    best, names = 0, []
    for spec in DATASETS.values():
        for folder in (spec.folder, *(str(PurePosixPath(spec.folder).parent / a) for a in spec.aliases)):
            want = [p.lower() for p in PurePosixPath(folder).parts]
            n = 0
            while n < min(len(want), len(parts)) and want[-1 - n] == parts[-1 - n]:
                n += 1
            if n == 0:
                continue
            if n > best:
                best, names = n, [spec.name]
            elif n == best and spec.name not in names:
                names.append(spec.name)
    return names
