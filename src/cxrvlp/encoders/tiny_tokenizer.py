"""A small WordPiece tokenizer built at run time, for the random ``tiny_bert`` text encoder of the test recipes.

``tiny_bert`` used to borrow MiniLM's tokenizer from the optional ``weights`` extra; without that extra it takes this
one instead (``tiny_bert``'s ``tokenizer: auto``), so the tiny recipes run on a bare install. The vocabulary is
fixed: the BERT special tokens (``[PAD]`` = 0, ``[UNK]``, ``[CLS]``, ``[SEP]``, ``[MASK]``), every ASCII letter,
digit and punctuation mark as a word start and as a ``##`` continuation (so any ASCII word is spelled out, never
``[UNK]``), and :data:`WORDS`, the words of chest radiograph reports. It is a fast tokenizer (offsets, word ids) with
BERT's normalisation (lower case, accents stripped) and ``[CLS] ... [SEP]`` around each text.

Changing :data:`WORDS` changes token ids, and so every model trained with this tokenizer: add words at the end only
if ever, and bump :data:`VERSION`.
"""
from __future__ import annotations

import string
from functools import lru_cache

VERSION = 1
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

WORDS = """
the a an and or of in on at to for with without by from as is are was were be been has have had there this that
these those it its which who no not nor neither none any all both each either other another than then there
but however although while when where whether if unless since again also still yet only very more most less least
new old prior previous previously current interval since unchanged change changed changes stable improved
improvement worsened worsening increased increase decreased decrease resolved resolving persistent persists
seen noted identified visualized visible demonstrated shown appears appear present absent evidence suggest
suggests suggesting consistent compatible concerning concern suspicious possible possibly probable probably likely
unlikely cannot excluded exclude ruled question questionable equivocal uncertain indeterminate represent
representing may might could would should correlation clinical clinically recommend recommended follow up
chest radiograph radiographs radiographic film study examination exam view views frontal lateral pa ap portable
supine upright erect semi comparison compared findings finding impression indication history technique
heart cardiac cardiomediastinal mediastinal mediastinum hilar hila hilum contour contours silhouette size sized
enlarged enlargement cardiomegaly normal upper limits limit top mildly mild moderate moderately severe severely
marked markedly minimal small large larger tiny trace focal diffuse patchy streaky hazy linear nodular reticular
lung lungs pulmonary parenchyma parenchymal lobe lobes lobar upper middle lower left right bilateral bibasilar
biapical basilar basal base bases apex apical apices zone zones perihilar retrocardiac lingula lingular segment
subsegmental central peripheral posterior anterior medial inner outer side sided hemithorax hemithoraces
pleural pleura effusion effusions fluid layering blunting costophrenic angle angles sulcus sulci thickening
pneumothorax pneumothoraces hydropneumothorax air lucency pneumomediastinum subcutaneous emphysema free
consolidation consolidations opacity opacities opacification opacified airspace alveolar interstitial infiltrate
infiltrates pneumonia aspiration infection atelectasis atelectatic collapse volume volumes loss scarring scar
fibrosis fibrotic granuloma granulomas calcified calcification calcifications nodule nodules mass masses
lesion lesions tumor neoplasm malignancy metastatic metastases cavitary cavity cyst
edema oedema congestion congestive vascular vasculature vascularity cephalization redistribution kerley lines
failure overload heart failure chf engorgement prominence prominent engorged
aorta aortic arch knob tortuous tortuosity calcified unfolded trachea tracheal carina bronchus bronchi bronchial
diaphragm hemidiaphragm hemidiaphragms elevated elevation flattening hyperinflation hyperinflated hyperexpanded
bone bones osseous rib ribs fracture fractures spine spinal vertebral degenerative scoliosis kyphosis clavicle
shoulder sternum sternotomy wires soft tissue tissues abdomen upper abdominal stomach bowel gas
support device devices line lines tube tubes catheter catheters endotracheal enteric nasogastric orogastric
feeding picc central venous jugular subclavian tip tips terminates terminating projects projecting overlying
pacemaker pacer defibrillator icd aicd lead leads electrode electrodes generator valve valves replacement
prosthetic prosthesis stent clips surgical chest drain drains tracheostomy cannula port mediport
position positioned placement place removed removal interval standard appropriate appropriately malpositioned
clear well expanded inflated inflation low lung volumes poor inspiratory effort rotated rotation limited
obscured obscuring overlap overlapping silhouetting silhouettes border borders margin margins
acute chronic process disease abnormality abnormalities abnormal unremarkable intact otherwise significant
no evidence of acute cardiopulmonary process
sign signs pattern distribution extent amount degree measure measuring measures cm mm approximately
patient patients year old male female man woman
""".split()


def vocabulary() -> list[str]:
    """The token list in id order (the first occurrence of a word counts; duplicates in :data:`WORDS` are ignored)."""
    chars = string.ascii_lowercase + string.digits + string.punctuation
    tokens = list(SPECIAL_TOKENS) + list(chars) + [f"##{c}" for c in chars]
    seen = set(tokens)
    for word in WORDS:
        if word not in seen:
            seen.add(word)
            tokens.append(word)
    return tokens


@lru_cache(maxsize=1)
def _tokenizer_json() -> str:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = {t: i for i, t in enumerate(vocabulary())}
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=True,
                                                lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    tok.decoder = decoders.WordPiece(prefix="##")
    return tok.to_str()


def build_tiny_tokenizer():
    """A new ``transformers.PreTrainedTokenizerFast`` over :func:`vocabulary` (``[PAD]`` id 0, a ``[MASK]`` token,
    offsets and word ids as every fast tokenizer; 512 tokens at most)."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(_tokenizer_json()), unk_token="[UNK]",
                                   pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                   model_max_length=512)
