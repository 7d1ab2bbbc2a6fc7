#!/usr/bin/python3
"""Data-parallel CRATE-MAE pre-training with PyTorch's own torch.distributed, starting from and ending in crate-mae files.

The round trip a user runs to scale out:

    crate-mae convert runs/crate-fmnist/final.ckpt start.pth             # weights as a PyTorch state dict
    (config.json: the run folder's, or `crate-mae info --model M --json`'s "config")
    torchrun --nproc-per-node 8 --nnodes 4 ... python/crate_mae_ddp.py --config config.json --weights start.pth \
        --data /usr/share/datasets/fashion-mnist --steps 10000 --out trained.pth
    crate-mae linprobe --checkpoint trained.pth --model config.json   # back in .NET

The model is the official CRATE-MAE computation (python/crate_mae_official.py, checked against the golden
fixtures), wrapped in DistributedDataParallel. Every process reads its own shard of the data (DistributedSampler);
gradients are averaged over the processes by DDP's all-reduce (gloo on CPUs, nccl on GPUs); rank 0 writes the state
dict. Without torchrun, `--nproc N` starts N local processes itself (torch.multiprocessing, gloo over 127.0.0.1).

Optimiser: the MAE recipe of `crate-mae pretrain` (AdamW β = (0.9, 0.95), weight decay on matrices and tokens only,
lr = blr × global batch / 256, linear warm-up then cosine).
`--features FILE` additionally writes the trained model's encoder features of the first images as a PyTorch file
({"images", "features"}), so the result can be checked in crate-mae (the tests do).
"""
import argparse
import gzip
import json
import math
import os
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from crate_mae_official import MaskedAutoencoderCRATE  # noqa: E402


def read_idx_images(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if int.from_bytes(data[0:4], "big") != 0x803:
        sys.exit(f"{path}: not an IDX image file (magic {data[0:4].hex()})")
    n, rows, cols = (int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
    return torch.frombuffer(bytearray(data[16:16 + n * rows * cols]), dtype=torch.uint8).view(n, 1, rows, cols)


def load_images(args, config):
    """Normalised float32 images [n, C, S, S]: an MNIST-layout folder, or seeded synthetic images."""
    if args.synthetic:
        g = torch.Generator().manual_seed(args.seed)
        return torch.randn(args.synthetic, config["in_chans"], config["img_size"], config["img_size"], generator=g)
    for name in ("train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"):
        path = os.path.join(args.data, name)
        if os.path.isfile(path):
            raw = read_idx_images(path).float().div_(255)
            break
    else:
        sys.exit(f"--data {args.data}: no train-images-idx3-ubyte[.gz] there")
    if raw.shape[1] != config["in_chans"] or raw.shape[2] != config["img_size"]:
        sys.exit(f"--data {args.data}: images are {raw.shape[1]}x{raw.shape[2]}x{raw.shape[3]}, the model wants "
                 f"{config['in_chans']}x{config['img_size']}x{config['img_size']}")
    return (raw - args.mean) / args.std


def param_groups(model, weight_decay):
    """Weight decay on matrices and tokens (ndim ≥ 2), none on biases and norms, as crate-mae pretrain."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def lr_at(step, args, peak):
    if step < args.warmup_steps:
        return peak * (step + 1) / args.warmup_steps
    t = (step - args.warmup_steps) / max(1, args.steps - args.warmup_steps)
    return args.min_lr + (peak - args.min_lr) * 0.5 * (1 + math.cos(math.pi * t))


def train(rank, world, args):
    if "RANK" not in os.environ:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(args.port))
        dist.init_process_group("gloo", rank=rank, world_size=world)
    else:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
    torch.set_num_threads(args.threads)
    config = json.load(open(args.config))
    model = MaskedAutoencoderCRATE(config)
    model.load_state_dict(torch.load(args.weights, map_location="cpu"), strict=True)
    model.decoder_embed.requires_grad_(False)   # unused under CRATE-MAE semantics (spec 2.7): no gradient, no update
    ddp = DistributedDataParallel(model)
    images = load_images(args, config)
    sampler = torch.utils.data.DistributedSampler(images, num_replicas=world, rank=rank, shuffle=True, seed=args.seed)
    loader = torch.utils.data.DataLoader(images, batch_size=args.batch_size, sampler=sampler, drop_last=True)
    peak = args.blr * args.batch_size * world / 256
    opt = torch.optim.AdamW(param_groups(model, args.weight_decay), lr=peak, betas=(0.9, 0.95))
    torch.manual_seed(args.seed + rank)   # each process masks its own images differently
    step, epoch = 0, 0
    while step < args.steps:
        sampler.set_epoch(epoch)
        for batch in loader:
            if step >= args.steps:
                break
            for group in opt.param_groups:
                group["lr"] = lr_at(step, args, peak)
            loss = ddp(batch, args.mask_ratio)[0]
            opt.zero_grad()
            loss.backward()
            opt.step()
            if rank == 0 and (step % args.log_every == 0 or step == args.steps - 1):
                print(json.dumps({"step": step, "loss": loss.item(), "lr": opt.param_groups[0]["lr"], "world": world}), flush=True)
            step += 1
        epoch += 1
    if rank == 0:
        torch.save(model.state_dict(), args.out)
        if args.features:
            model.eval()
            probe = images[: args.feature_images]
            with torch.no_grad():
                torch.save({"images": probe.contiguous(), "features": model.forward_features(probe).contiguous()}, args.features)
    dist.barrier()
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="crate-mae model config JSON (snake_case, as config.json's \"model\" or info --json)")
    ap.add_argument("--weights", required=True, help="starting weights: a PyTorch state dict (crate-mae convert X.ckpt X.pth)")
    ap.add_argument("--out", required=True, help="where rank 0 writes the trained state dict (.pth)")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist", help="MNIST-layout folder (train-images-idx3-ubyte[.gz])")
    ap.add_argument("--synthetic", type=int, default=0, help="use N seeded random images instead of --data")
    ap.add_argument("--mean", type=float, default=0.2860, help="pixel mean for normalisation (default: Fashion-MNIST's)")
    ap.add_argument("--std", type=float, default=0.3530, help="pixel std for normalisation (default: Fashion-MNIST's)")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=64, help="images per process and step")
    ap.add_argument("--blr", type=float, default=1.5e-4)
    ap.add_argument("--min-lr", type=float, default=0.0)
    ap.add_argument("--warmup-steps", type=int, default=10)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--mask-ratio", type=float, default=0.75)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="CPU threads per process")
    ap.add_argument("--nproc", type=int, default=2, help="local processes when not started by torchrun")
    ap.add_argument("--port", type=int, default=29517, help="local rendezvous port when not started by torchrun")
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--features", help="also write {'images', 'features'} of the trained model here (.pth)")
    ap.add_argument("--feature-images", type=int, default=4)
    args = ap.parse_args()
    config = json.load(open(args.config))
    if config.get("kind", "crate") != "crate" or config.get("semantics", "crate_mae") != "crate_mae":
        sys.exit("--config: this script trains CRATE blocks under CRATE-MAE code semantics")
    if "RANK" in os.environ:
        train(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), args)
    else:
        mp.spawn(train, args=(args.nproc, args), nprocs=args.nproc, join=True)


if __name__ == "__main__":
    main()
