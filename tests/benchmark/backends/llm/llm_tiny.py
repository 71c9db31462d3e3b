"""A tiny random Llama with a small byte-level BPE tokenizer (imported by the tests).

The tokenizer is trained on a few sentences, so words carry their leading space (" Paris") the
way GPT-2-style tokenizers do and the scoring boundary rule has real merges to handle.
"""

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CORPUS = [
    "The capital of France is Paris. The capital of Germany is Berlin.",
    "Toy Story (1995), Heat (1995), GoldenEye (1995), Jumanji (1995), Casino (1995).",
    "The user watched these movies and liked them; recommend the next movie to watch.",
    "What is the capital of France? Paris is a city. Berlin is a city.",
    "Answer: 1. 2. 3. 4. 5. 6. 7. 8. 9. 10. Stop here.",
]


def build_tokenizer(add_bos: bool = False) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 3, trainer=trainer)
    if add_bos:  # Llama-2 style: every encoded text starts with BOS
        tok.post_processor = processors.TemplateProcessing(
            single="<|im_start|> $A", special_tokens=[("<|im_start|>", 1)]
        )
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHATML,
    )


def save_tiny_llm(directory: Path, seed: int = 0, add_bos: bool = False) -> Path:
    """A 2-layer random Llama (GQA, tied embeddings) and its tokenizer, saved to ``directory``."""
    tokenizer = build_tokenizer(add_bos=add_bos)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=48, intermediate_size=96, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        initializer_range=0.2, tie_word_embeddings=True,
        bos_token_id=1, eos_token_id=2, pad_token_id=0,
    )  # fmt: skip
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
