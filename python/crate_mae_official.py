#!/usr/bin/python3
"""The official CRATE-MAE computation in PyTorch: the speed baseline of `crate-mae bench` and the model of crate_mae_ddp.py.

The modules below are written in the official code's form (Ma-Lab-Berkeley/CRATE, `model/crate_ae/`, the form
docs/CRATE-MAE spec sections 2-3 describe): `rearrange` as reshape + permute, MSSA as matmul / softmax / matmul, ISTA
with its three `F.linear` products, PreNorm wrappers, and MAE's random masking, gather and loss. The training step is
the official loop's: forward, backward, `torch.optim.AdamW` step (PyTorch's default implementation for the CPU).

`--check DIR` proves the form: it loads every CRATE case of the golden fixtures (made by the official code) and
requires loss, pred and latent to match within 1e-5 relative to the largest magnitude.

Run with Debian's PyTorch (`/usr/bin/python3`); on an AVX-512 CPU set `OPENBLAS_CORETYPE=SkylakeX` (Debian's OpenBLAS
misdetects some AVX-512 Xeons). `bench/vs_official.py` does both and interleaves this baseline with `crate-mae bench`.
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# --------------------------------------------------------------------------------------------------------------------
# Blocks (official form)

class PreNorm(nn.Module):
    def __init__(self, dim, fn):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x):
        return self.fn(self.norm(x))


class Attention(nn.Module):
    """MSSA: one bias-free projection plays query, key and value."""

    def __init__(self, dim, heads):
        super().__init__()
        dim_head = dim // heads
        inner_dim = dim_head * heads
        project_out = not (heads == 1 and dim_head == dim)
        self.heads = heads
        self.scale = dim_head ** -0.5
        self.attend = nn.Softmax(dim=-1)
        self.qkv = nn.Linear(dim, inner_dim, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner_dim, dim)) if project_out else nn.Identity()

    def forward(self, x):
        b, n, _ = x.shape
        w = self.qkv(x).reshape(b, n, self.heads, -1).permute(0, 2, 1, 3)      # rearrange 'b n (h d) -> b h n d'
        dots = torch.matmul(w, w.transpose(-1, -2)) * self.scale
        attn = self.attend(dots)
        out = torch.matmul(attn, w)
        out = out.permute(0, 2, 1, 3).reshape(b, n, -1)                          # rearrange 'b h n d -> b n (h d)'
        return self.to_out(out)


class FeedForward(nn.Module):
    """ISTA step, three products as in the official code."""

    def __init__(self, dim, step_size=0.1, lambd=0.5):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(dim, dim))
        with torch.no_grad():
            nn.init.kaiming_uniform_(self.weight)
        self.step_size = step_size
        self.lambd = lambd

    def forward(self, x):
        x1 = F.linear(x, self.weight, bias=None)
        grad_1 = F.linear(x1, self.weight.t(), bias=None)
        grad_2 = F.linear(x, self.weight.t(), bias=None)
        grad_update = self.step_size * (grad_2 - grad_1) - self.step_size * self.lambd
        return F.relu(x + grad_update)


class EncoderBlock(nn.Module):
    def __init__(self, dim, heads, step_size, lambd):
        super().__init__()
        self.layers = nn.ModuleList([nn.ModuleList([PreNorm(dim, Attention(dim, heads)),
                                                    PreNorm(dim, FeedForward(dim, step_size, lambd))])])

    def forward(self, x):
        for attn, ff in self.layers:
            grad_x = attn(x) + x
            x = ff(grad_x)
        return x


class Linear(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(dim, dim))
        with torch.no_grad():
            nn.init.kaiming_uniform_(self.weight)

    def forward(self, x):
        return F.linear(x, self.weight, bias=None)


class DecoderBlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.layers = nn.ModuleList([nn.ModuleList([PreNorm(dim, Linear(dim)), PreNorm(dim, Attention(dim, heads))])])

    def forward(self, x):
        for linear, attn in self.layers:
            x = linear(x)
            x = x - attn(x)
        return x


class PatchEmbed(nn.Module):
    def __init__(self, patch, chans, dim):
        super().__init__()
        self.proj = nn.Conv2d(chans, dim, kernel_size=patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


def sincos_table(dim, grid):
    """Fixed 2-D sin-cos table with a zero cls row (spec 2.3)."""
    q = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(q, dtype=torch.float32) / q)
    t = torch.arange(grid * grid)
    i, j = (t // grid).float(), (t % grid).float()
    pe = torch.cat([torch.sin(j[:, None] * omega), torch.cos(j[:, None] * omega),
                    torch.sin(i[:, None] * omega), torch.cos(i[:, None] * omega)], dim=1)
    return torch.cat([torch.zeros(1, dim), pe], dim=0)[None]


class MaskedAutoencoderCRATE(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, dd = c["embed_dim"], c["decoder_embed_dim"]
        assert d == dd, "CRATE-MAE code semantics need decoder_embed_dim == embed_dim"
        self.patch = c["patch_size"]
        self.chans = c["in_chans"]
        self.norm_pix_loss = c.get("norm_pix_loss", False)
        grid = c["img_size"] // self.patch
        self.patch_embed = PatchEmbed(self.patch, self.chans, d)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(sincos_table(d, grid), requires_grad=False)
        self.blocks = nn.ModuleList([EncoderBlock(d, c["num_heads"], c.get("eta", 0.1), c.get("lambd", 0.5))
                                     for _ in range(c["depth"])])
        self.norm = nn.LayerNorm(d, eps=1e-6)
        self.decoder_embed = nn.Linear(d, dd, bias=True)                  # unused in the forward (spec 2.7)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dd))
        self.decoder_pos_embed = nn.Parameter(sincos_table(dd, grid), requires_grad=False)
        self.decoder_blocks = nn.ModuleList([DecoderBlock(dd, c["decoder_num_heads"]) for _ in range(c["decoder_depth"])])
        self.decoder_norm = nn.LayerNorm(dd, eps=1e-6)
        self.decoder_pred = nn.Linear(dd, self.patch ** 2 * self.chans, bias=True)
        torch.nn.init.normal_(self.cls_token, std=.02)
        torch.nn.init.normal_(self.mask_token, std=.02)

    def patchify(self, imgs):
        p, c = self.patch, self.chans
        h = w = imgs.shape[2] // p
        x = imgs.reshape(imgs.shape[0], c, h, p, w, p)
        x = torch.einsum('nchpwq->nhwpqc', x)
        return x.reshape(imgs.shape[0], h * w, p * p * c)

    def random_masking(self, x, mask_ratio, noise):
        n, l, d = x.shape
        len_keep = int(l * (1 - mask_ratio))
        ids_shuffle = torch.argsort(noise, dim=1)
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        ids_keep = ids_shuffle[:, :len_keep]
        x_masked = torch.gather(x, dim=1, index=ids_keep.unsqueeze(-1).repeat(1, 1, d))
        mask = torch.ones([n, l])
        mask[:, :len_keep] = 0
        mask = torch.gather(mask, dim=1, index=ids_restore)
        return x_masked, mask, ids_restore

    def forward_encoder(self, x, mask_ratio, noise):
        x = self.patch_embed(x)
        x, mask, ids_restore = self.random_masking(x, mask_ratio, noise)
        cls_tokens = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat((cls_tokens, x), dim=1)
        mask_tokens = self.mask_token.repeat(x.shape[0], ids_restore.shape[1] + 1 - x.shape[1], 1)
        x_ = torch.cat([x[:, 1:, :], mask_tokens], dim=1)
        x_ = torch.gather(x_, dim=1, index=ids_restore.unsqueeze(-1).repeat(1, 1, x.shape[2]))
        x = torch.cat([x[:, :1, :], x_], dim=1)
        x = x + self.decoder_pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x), mask, ids_restore

    def forward_decoder(self, x):
        for blk in self.decoder_blocks:
            x = blk(x)
        x = self.decoder_norm(x)
        return self.decoder_pred(x)[:, 1:, :]

    def forward_loss(self, imgs, pred, mask):
        target = self.patchify(imgs)
        if self.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1.e-6) ** .5
        loss = ((pred - target) ** 2).mean(dim=-1)
        return (loss * mask).sum() / mask.sum()

    def forward(self, imgs, mask_ratio=0.75, noise=None):
        if noise is None:
            noise = torch.rand(imgs.shape[0], self.pos_embed.shape[1] - 1)
        latent, mask, ids_restore = self.forward_encoder(imgs, mask_ratio, noise)
        pred = self.forward_decoder(latent)
        return self.forward_loss(imgs, pred, mask), pred, mask, latent

    def forward_features(self, imgs):
        """Unmasked feature path (spec 2.12) at the training size."""
        x = self.patch_embed(imgs)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1) + self.decoder_pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)


# --------------------------------------------------------------------------------------------------------------------

def check(fixtures):
    cases = json.load(open(os.path.join(fixtures, "cases.json")))
    cases = cases if isinstance(cases, list) else [dict(v, name=k) for k, v in cases.items()]
    worst = 0.0
    for case in cases:
        if case["kind"] != "crate":
            continue
        cfg = dict(img_size=case["img"], patch_size=case["patch"], in_chans=case["chans"], embed_dim=case["dim"],
                   depth=case["depth"], num_heads=case["heads"], decoder_embed_dim=case["dim"],
                   decoder_depth=case["ddepth"], decoder_num_heads=case["dheads"], lambd=case["lambd"],
                   norm_pix_loss=case["normpix"])
        model = MaskedAutoencoderCRATE(cfg)
        model.load_state_dict(torch.load(os.path.join(fixtures, case["name"] + ".pth")), strict=True)
        io = torch.load(os.path.join(fixtures, case["name"] + ".io.pth"))
        loss, pred, mask, latent = model(io["imgs"], float(case["ratio"]), io["noise"])
        for key, got in (("loss", loss.reshape(1)), ("pred", pred), ("latent", latent)):
            ref = io[key]
            err = ((got - ref).abs().max() / ref.abs().max()).item()
            worst = max(worst, err)
            if err > 1e-5:
                sys.exit(f"{case['name']}: {key} differs from the official fixture by {err:.2e} (> 1e-5)")
        print(f"{case['name']}: loss, pred and latent equal the official fixtures (worst so far {worst:.1e})")


def lockstep_gate(phase, timed):
    """crate-mae bench --lockstep's protocol: announce the step on stderr, wait for 'go' on stdin."""
    print(f"lockstep: ready {phase} {'timed' if timed else 'warmup'}", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    if not line:
        sys.exit(f"--lockstep: the input ended while the next {phase} step waited for 'go'")
    if line.strip() != "go":
        sys.exit(f"--lockstep: expected a line 'go' on the input before the next {phase} step, got {line.strip()!r}")


def bench(config, batch, steps, warmup, threads, mask_ratio, lockstep=False):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = MaskedAutoencoderCRATE(config)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
    imgs = torch.randn(batch, config["in_chans"], config["img_size"], config["img_size"])

    def train_step():
        loss = model(imgs, mask_ratio)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    def embed_step():
        with torch.no_grad():
            model.forward_features(imgs)

    result = {"schema": "crate-mae/official-baseline/1", "torch": torch.__version__, "threads": threads,
              "batch": batch, "steps": steps, "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE")}
    for name, fn in (("train", train_step), ("embed", embed_step)):
        model.train(name == "train")
        times = []
        for i in range(warmup + steps):
            timed = i >= warmup
            if lockstep:
                lockstep_gate(name, timed)
            t = time.perf_counter()
            fn()
            dt = time.perf_counter() - t
            if lockstep:
                print(f"lockstep: done {name} {dt!r}", file=sys.stderr, flush=True)
            if timed:
                times.append(dt)
        result[name] = {"step_seconds": times, "median_img_per_s": batch / statistics.median(times),
                        "best_img_per_s": batch / min(times)}
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", metavar="FIXTURES", help="verify against the golden fixtures and exit")
    ap.add_argument("--config", help="model config JSON (file or inline), snake_case keys as crate-mae's")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--mask-ratio", type=float, default=0.75)
    ap.add_argument("--lockstep", action="store_true",
                    help="gate every step on a line 'go' on stdin (as crate-mae bench --lockstep; bench/vs_official.py --paired)")
    a = ap.parse_args()
    if a.check:
        check(a.check)
        return
    if not a.config:
        ap.error("--config or --check is required")
    config = json.load(open(a.config)) if os.path.exists(a.config) else json.loads(a.config)
    if config.get("kind", "crate") != "crate" or config.get("semantics", "crate_mae") != "crate_mae":
        sys.exit("--config: the baseline implements CRATE blocks under CRATE-MAE code semantics only")
    print(json.dumps(bench(config, a.batch, a.steps, a.warmup, a.threads, a.mask_ratio, a.lockstep), indent=2))


if __name__ == "__main__":
    main()
