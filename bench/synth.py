"""Synthetic site generator: N event pages in both schemas, with CJK text, deterministic.

python bench/synth.py OUT_DIR N
"""

from __future__ import annotations

import random
import sys
from datetime import datetime, timedelta
from pathlib import Path

CJK = "云原生可观测性平台工程多集群服务网格容器编排边缘计算持续交付开源社区实践分享架构演进"
CITIES = ["成都", "上海", "杭州", "北京", "深圳", "苏州"]
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC"]


def cjk(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(CJK) for _ in range(n))


def kubesphere_page(rng: random.Random, i: int, when: datetime) -> str:
    base = "线上" if i % 3 else f"{rng.choice(CITIES)} + 线上"
    bvid = f"BV1{i:09d}"
    video = f"//player.bilibili.com/player.html?aid={i}&bvid={bvid}&page=1" if i % 2 else ""
    return f"""---
title: {cjk(rng, 12)} 第 {i} 期
description: {cjk(rng, 60)}
keywords: KubeSphere, Kubernetes, {cjk(rng, 4)}
css: scss/live-detail.scss

section1:
  snapshot: 
  videoUrl: {video}
  type: iframe
  time: {when:%Y-%m-%d %H:%M}-{when + timedelta(hours=1):%H:%M}
  timeIcon: /images/live/clock.svg
  base: {base}
  baseIcon: /images/live/base.svg
---
## 分享内容简介

{cjk(rng, 200)}

## 讲师简介

{cjk(rng, 3)}，{cjk(rng, 40)}。

## 分享大纲

![](https://images.example.org/outline-{i}.png)

## 直播时间

{when:%Y 年 %m 月 %d 日 %H:%M}-{when + timedelta(hours=1):%H:%M}

## 直播地址

B 站  http://live.bilibili.com/22580654

## PPT 下载

关注公众号，后台回复 `{when:%Y%m%d}` 即可下载 PPT。

## Q & A

### Q1：{cjk(rng, 20)}？

A：{cjk(rng, 80)}
"""


def native_page(rng: random.Random, i: int, when: datetime) -> str:
    zone = ZONES[i % len(ZONES)]
    return f"""---
title: "Community session {i}: {cjk(rng, 8)}"
description: {cjk(rng, 40)}
start: {when:%Y-%m-%dT%H:%M:%S}
end: {when + timedelta(minutes=90):%Y-%m-%dT%H:%M:%S}
timezone: {zone}
location: {"online" if i % 2 else rng.choice(CITIES)}
live_url: https://live.example.org/stream/{i}
tags: [bench, {cjk(rng, 2)}]
speakers:
  - name: {cjk(rng, 3)}
    bio: {cjk(rng, 30)}
---
## About

{cjk(rng, 300)}
"""


def generate(out: Path, n: int, seed: int = 7) -> Path:
    """Write an N-page site (half per schema) with a livepipe.toml; returns the site root."""
    rng = random.Random(seed)
    (out / "content" / "zh" / "live").mkdir(parents=True, exist_ok=True)
    (out / "content" / "en" / "events").mkdir(parents=True, exist_ok=True)
    (out / "livepipe.toml").write_text(
        '[site]\nname = "Bench"\nbase_url = "https://bench.example.org"\n'
        'timezone = "Asia/Shanghai"\ndefault_language = "zh"\n',
        encoding="utf-8",
    )
    start = datetime(2026, 1, 1, 20, 0)
    for i in range(n):
        when = start + timedelta(days=i // 4, hours=(i % 4))
        if i % 2:
            path = out / "content" / "en" / "events" / f"session-{i:05d}.md"
            path.write_text(native_page(rng, i, when), encoding="utf-8")
        else:
            path = out / "content" / "zh" / "live" / f"live-{i:05d}.md"
            path.write_text(kubesphere_page(rng, i, when), encoding="utf-8")
    return out


if __name__ == "__main__":
    generate(Path(sys.argv[1]), int(sys.argv[2]))
