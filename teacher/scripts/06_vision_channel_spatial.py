from author import answer, check, code, md

CELLS = [
    md("""
        # 06 · Vision: channel and spatial attention

        **Goal.** Attention is not only for sequences. In a convolutional network it can be a set of
        *gates*: numbers in [0, 1] that turn feature channels, or image positions, up and down. By the
        end of this notebook you can

        - write the gate of a **Squeeze-and-Excitation** (SE) block and say what CBAM adds to it
          (a channel gate from average *and* max pooling, then a **spatial** gate from a 7x7 conv);
        - compare three CNNs trained on exactly the same images and budget: plain, with SE, with CBAM;
        - score where CBAM's spatial maps point with the **pointing game**, against baselines that
          keep the score honest;
        - switch each gate off and measure which part the accuracy depends on;
        - say what a model trained on synthetic shapes does with real photographs.

        Two claims made about attention are on trial here: that it gives a model **selective
        focus** (it looks at what matters), and that its weights are an **interpretable
        representation** (a map you can read as "where the model looked").

        Run the cells from top to bottom (Shift+Enter). Cells marked *Exercise* are yours; the cell
        after each one checks your answer and tells you what to fix.
    """),
    code("""
        %matplotlib inline
        import ipywidgets as widgets
        import matplotlib.pyplot as plt
        import numpy as np
        import torch

        import attnwidgets as aw
        from attnwidgets.course import vision

        torch.set_num_threads(1)  # small models: one thread is as fast, and fair to a shared machine
    """),
    md("""
        ## 1. A task where *where you look* matters

        To test whether a spatial map points at the right place we need images where the right place
        is known. We draw them: 64x64 pixels, a textured background (a colour gradient, stripes,
        noise and a few thin strokes), and 3 to 6 filled shapes that never overlap. Exactly one shape
        is the **target**; the label is its kind: circle, square, triangle, plus or diamond.

        The first version of this task failed as a test. With a red target among non-red shapes, a
        plain CNN reached 100% accuracy: it only had to detect "red" and read the shape there, and
        never needed to look anywhere in particular. So here the target is the **odd one out**: all
        distractors share one colour, the target has another at least 60 degrees of hue away, and
        both colours change from image to image. The distractors' kinds are drawn at random,
        independently of the label, so counting shapes of a kind tells nothing. To name the class the
        model must find the shape whose colour differs from the others and read its form.

        Below: eight training-style images, each titled by its label, with the target outlined in
        white (for you; the models never see the outline).
    """),
    code("""
        images, labels, targets, distractors = vision.make_images(8, seed=1)
        vision.show_scenes(images, labels, targets)
        plt.show()
        print("images", images.shape, images.dtype, "| labels", labels, "| classes", vision.CLASSES)
    """),
    md("""
        We keep 400 fresh images (a seed never used in training) for every measurement in this
        notebook. How small is the target, and how many shapes compete with it?
    """),
    code("""
        ev_images, ev_labels, ev_targets, ev_distractors, ev_info = vision.make_images(400, seed=2026, details=True)
        print(f"target area: {ev_targets.mean():.1%} of the image on average")
        print(f"shapes per image: {ev_info.n_shapes.mean():.2f} (target + distractors)")
        print(f"label counts: {np.bincount(ev_labels)}")
    """),
    md("""
        ## 2. Squeeze-and-Excitation: one gate per channel

        A convolution layer outputs a feature map `x` of shape `[B, C, H, W]`: C channels, each a
        "detector" laid over the image. SE (Hu et al., 2018) lets the network re-weight those channels
        for each image:

        1. **squeeze**: average each channel over all positions, `z = x.mean(dim=(2, 3))`, shape `[B, C]`;
        2. **excite**: a small bottleneck MLP, `C -> C/r -> C` with a ReLU in between (r = 8 here),
           then a **sigmoid**, so each channel gets its own gate `s` in [0, 1];
        3. **scale**: `y = x * s[:, :, None, None]`.

        A sigmoid, not a softmax: the gates do not compete, several channels can be fully on at once.
        In `vision.SE` the sigmoid is its own small module (`se.gate`), so `aw.capture_modules` can
        hook it and record the gates as a `channel` AttentionRecord during the real forward pass.
    """),
    code("""
        se = vision.SE(32, reduction=8)
        x = torch.randn(2, 32, 16, 16)               # [B, C, H, W]: a batch of feature maps
        rec = aw.capture_modules(se, x, modules=["gate"], kind="channel", weights_from=vision.as_channel_weights)
        print(se)
        print(rec, "| gates range", rec.weights.min().round(3), "to", rec.weights.max().round(3))
    """),
    md("""
        ### Exercise 1: write the SE gate

        Given feature maps `x` `[B, C, H, W]` and the two linear layers' weights (`w1` `[C/r, C]`,
        `b1` `[C/r]`, `w2` `[C, C/r]`, `b2` `[C]`), return the gates `[B, C]`. Only torch functions:
        `x.mean`, `@`, `torch.relu`, `torch.sigmoid`.
    """),
    answer("ex1", '''
        def se_gate(x, w1, b1, w2, b2):
            """Squeeze-and-Excitation gates: [B, C, H, W] -> [B, C], each in [0, 1]."""
            ### BEGIN SOLUTION
            z = x.mean(dim=(2, 3))                     # squeeze: [B, C]
            return torch.sigmoid(torch.relu(z @ w1.T + b1) @ w2.T + b2)
            ### END SOLUTION
            raise NotImplementedError("write the body above")
    '''),
    check("ex1", "vision.check_se_gate(se_gate)", hidden="assert vision.check_se_gate(se_gate)"),
    md("""
        ## 3. CBAM: which channels, then where

        CBAM (Woo et al., 2018) puts two gates in a row:

        - **channel attention**: like SE, but the shared MLP sees two descriptors of each channel, its
          average *and* its maximum over positions; the two outputs are added before the sigmoid;
        - **spatial attention**: at every position, take the mean and the max *across channels*
          (two maps, `[B, 2, H, W]`), run a 7x7 convolution to one map, and a sigmoid: one gate per
          position, `[B, 1, H, W]`. This is the map we can lay over the image.

        Our CNN has 4 blocks (conv 3x3, batch norm, ReLU, max-pool 2 except in the last block) with
        32, 48, 96 and 128 channels, then an average over positions and a linear layer to 5 classes.
        The SE or CBAM module sits at the end of each block, so CBAM's four spatial maps are 32x32,
        16x16, 8x8 and 8x8.

        Three copies were trained on the **same** 64,000 images (1,000 steps of 64 fresh images,
        horizontal flips), same optimiser and schedule, seed 0: plain, with SE, with CBAM. Each
        command re-makes one, e.g. `python -m attnwidgets.course.vision train --kind cbam --seed 0`.
    """),
    code("""
        models = vision.load_all()
        acc_now = {kind: vision.accuracy(model, ev_images, ev_labels) for kind, model in models.items()}
        print(vision.model_table(models, acc_now, n_now=len(ev_images)))
    """),
    code("""
        vision.training_curves(models)
        plt.show()
    """),
    md("""
        *The last column is measured now on the 400 fresh images; the one before it at training time
        on 2,000 other fresh images. Training ran on one thread of a 2-core machine shared with other
        jobs: wall-clock seconds ("train s") are inflated by the sharing; CPU seconds are closer to
        what the training itself cost.*
    """),
    md("""
        ## 4. Predict, then look

        CBAM's spatial gate multiplies every position of the feature map. Its second map (block 2,
        16x16 cells, each covering 4x4 pixels) is fine enough to separate the shapes. Before you look:
    """),
    code("""
        report = vision.pointing_report(models["cbam"], ev_images, ev_labels, ev_targets, ev_distractors, ev_info.n_shapes, ablate=False)
        view = vision.explorer(models["cbam"], ev_images, ev_labels, ev_targets, index=0, layer=1)
        aw.Predict(
            "On these 400 images, where does the brightest cell of CBAM's block-2 spatial map land most often?",
            vision.PLACES, answer=vision.brightest_place(report, block=1), reveal=view,
            explain=vision.explain_places(report, block=1),
        )
    """),
    md("""
        In the view: the **image** slider picks an image (the gates are re-captured for it), the
        **layer** menu picks the block, the **opacity** slider fades the map in and out. Each map is
        *stretched* from its own minimum to its maximum so that its shape shows; the menu gives each
        map's raw range (block 4's gates, for one, stay between about 0.8 and 1). The target is outlined
        in white, for you only.

        ## 5. The pointing game, and three baselines

        The pointing game asks: is the map's single brightest cell on the target? We take the argmax
        at the map's **own** resolution and check whether that cell's centre pixel is inside the
        target mask. (Upsampling first, with bilinear smoothing, drags noisy argmaxes towards the
        border and makes random maps score below chance.) A score needs baselines:

        - a **random pixel** hits the target as often as the target's share of the image (~3%);
        - **a random shape**: a map that finds "objects" but not *the* object hits the target
          1 / (number of shapes) of the time;
        - **hits on a distractor**: how often the argmax lands on a wrong shape instead.

        And, beyond the argmax, the **share of the map's mass** that lies on the target (a flat map
        gets exactly the area share).
    """),
    code("""
        print(vision.pointing_table(report))
        print()
        print("at training time, 2,000 other fresh images:")
        print(vision.pointing_table(models["cbam"].training_info["test"]))
    """),
    code("""
        vision.map_gallery(models["cbam"], ev_images, ev_targets, n=6)
        plt.show()
    """),
    md("""
        **What the maps find.** Only block 2's map (16x16) points at shapes: its brightest cell lands on
        *some* shape most of the time, and on the target about a third of the time: more than ten times
        as often as a random pixel, and more than a random shape would. But it lands on a distractor more often still. Per
        shape the target is preferred (the reveal above says by how much), yet this is mostly an
        **objectness** map, "a shape is here", with a lean toward the odd colour; it is not a map of
        "the thing that decides the label". The other blocks do other jobs: block 1 (32x32) seems to
        follow edges and the stripes of the texture, block 3 dims the middle of the image, block 4 is
        close to 1 everywhere with a soft bump in the centre.

        Measured by mass, no map is focused: the share of a gate's total that lies on the target is the
        target's share of the image. A sigmoid gate is not a budget to share out like a softmax: each
        position gets its own value, many stay high, and the map acts by *dimming* some places
        (borders, parts of the texture) more than others rather than by singling one out. Reading it
        as "where the model looked" would overstate what it shows.
    """),
    md("""
        ### Exercise 2: the pointing game for one map

        Write `points_at(attn_map, mask)`: `attn_map` is a `[h, w]` array (h = w, one of 8, 16, 32),
        `mask` a boolean `[64, 64]` target mask. Return True when the centre pixel of the map's
        largest cell lies inside the mask. A cell covers `s = 64 // w` pixels per side, so cell
        (row, col) has its centre pixel at `(row * s + s // 2, col * s + s // 2)`.
    """),
    answer("ex2", '''
        def points_at(attn_map, mask):
            """Pointing game at the map's own resolution: is the argmax cell's centre on the mask?"""
            ### BEGIN SOLUTION
            h, w = attn_map.shape
            row, col = divmod(int(np.argmax(attn_map)), w)
            s = 64 // w
            return bool(mask[row * s + s // 2, col * s + s // 2])
            ### END SOLUTION
            raise NotImplementedError("write the body above")
    '''),
    check("ex2", "vision.check_pointing(points_at)", hidden="assert vision.check_pointing(points_at)"),
    md("""
        ## 6. Switch the gates off: which part carries the accuracy?

        A map can look meaningful without doing anything, so we intervene, at inference, with the
        trained weights unchanged. Two ways to switch a gate off:

        - **gate = 1** (`vision.gates_open(model, part)`): the part no longer re-weights anything. This
          also changes the *scale* of the features (a gate that averaged 0.4 now lets 2.5 times as much
          through), which the layers after it never saw in training;
        - **gate = its mean** (`vision.gates_fixed(model, part, reference)`): every image gets the same
          gate, the average over 100 other images. The scale stays; only the gate's dependence on the
          image in front of it is gone. This asks the sharper question: does it matter *which*
          channels or positions the gate picks for this image?

        `part` is `"spatial"` or `"channel"`; SE has only the channel part.
    """),
    code("""
        reference = vision.make_images(100, seed=7)[0]  # other fresh images, for the mean gates
        ablation = vision.ablations(models["cbam"], ev_images, ev_labels, reference=reference, as_trained=acc_now["cbam"])
        se_ablation = vision.ablations(models["se"], ev_images, ev_labels, reference=reference, as_trained=acc_now["se"])
        print(vision.ablation_table(ablation, se_ablation))
    """),
    md("""
        ### Exercise 3: which gate does CBAM depend on?

        From `ablation` above, which part, set to 1, costs CBAM more accuracy? Answer `"spatial"` or
        `"channel"`.
    """),
    answer("ex3", '''
        hurts_more = None
        ### BEGIN SOLUTION
        drop = {part: ablation["as_trained"] - ablation[f"{part}_gate_1"] for part in ("spatial", "channel")}
        hurts_more = max(drop, key=drop.get)
        ### END SOLUTION
    '''),
    check("ex3", "vision.check_ablation(hurts_more, ablation)", hidden="assert vision.check_ablation(hurts_more, ablation)"),
    md("""
        **Reading the ablations.** The channel gates carry CBAM: opened, or fixed at their mean, the
        model falls to about chance. The layers after each gate were trained on channels picked *for
        this image*, and without that choice their inputs make no sense to them. SE depends on its
        per-image channel choice too, though it survives the mean gate better. CBAM's spatial gates
        matter less: opened, accuracy drops by about 30 points, part of it the shock of the new scale;
        fixed at their mean, it drops by 10 to 15 points. So the image-specific part of the spatial maps
        does carry some accuracy, but less than the channel part, the same mechanism SE has alone, and
        SE without any spatial gate is about as accurate as CBAM.
    """),
    md("""
        ## 7. Channel gates: what SE turns up and down

        The SE model's third block has 96 channels (its gates vary the most from image to image). For
        one image, the bars below are its gates; the menu switches to the mean gate over 100 of the
        fresh images, so you can see what is specific to this image. The figure under it lists the
        channels turned down most and up most relative to that mean.
    """),
    code("""
        i = 3
        print(f"image {i}: target is a {vision.CLASSES[ev_labels[i]]}")
        aw.ImageAttention(vision.capture_channel(models["se"], ev_images[i], block=2, reference=ev_images[:100]))
    """),
    code("""
        vision.channel_shift_figure(models["se"], ev_images[i], ev_images[:100], block=2)
        plt.show()
    """),
    md("""
        Do the channel gates depend on the class? If they do, the mean gate vector of each class
        should identify the class of a new image: we fit the 5 class means on half of the fresh
        images and classify the other half by the nearest mean (chance: 20%). The second line per
        model is how much a gate moves from image to image (standard deviation, averaged over channels).
    """),
    code("""
        print(vision.specificity_table(models, ev_images, ev_labels))
    """),
    md("""
        The two models differ here. CBAM's late gates are **class-specific**: the gate vector of block 3
        or 4 alone names the class of the image far above chance, so having found the odd-coloured
        shape, CBAM turns up the channels that respond to its kind. SE's gates are close to chance at
        every block, although (section 6) SE fails without its per-image gates: its gates follow
        something about each image other than the class, perhaps its colours or clutter. Either way the
        focus is on *features*, not on places, and what a gate encodes has to be measured, not read off
        the bars.
    """),
    md("""
        ## 8. The same model on real photographs

        Two photographs that ship with scikit-learn, cropped square and shrunk to 64x64, go through
        the CBAM model. It must answer with one of its five shapes: a classifier has no "none of
        these" unless it was trained to have one.
    """),
    code("""
        photos = np.stack([vision.photo(name) for name in vision.PHOTOS])
        probs = vision.class_probabilities(models["cbam"], photos)
        for name, p in zip(vision.PHOTOS, probs):
            print(f"{name:11s}", "  ".join(f"{c} {q:.0%}" for c, q in zip(vision.CLASSES, p)))
        widgets.HBox([aw.ImageAttention(vision.capture_spatial(models["cbam"], photos[k], stretch=True), photos[k].transpose(1, 2, 0), layer=1, opacity=0.6)
                      for k in range(len(photos))])
    """),
    md("""
        **On photographs** the model spreads its probability over the five shapes. A softmax always sums
        to 1, so it names a shape whatever the input, and a moderate confidence is no reliable sign of
        "I do not know". Block 2's map (pick it in the menu) still behaves like an objectness map
        where it can: on the flower, one large object on a plain background, it is high over the
        flower; on the pagoda it is high almost everywhere. Blocks 3 and 4 show the same patterns as on
        the shapes. The network learnt shapes on textured noise and nothing about photographs; its maps
        here describe its own habits, not the picture.
    """),
    md("""
        ## Summary

        Every number below was measured in this notebook (400 fresh images) or at training time
        (2,000 other fresh images).
    """),
    code("""
        print(vision.summary(models, acc_now, report, ablation, se_ablation, len(ev_images)))
    """),
    md("""
        **What to take away.**

        - SE and CBAM are attention as **gating**: sigmoid gates in [0, 1] per channel (SE, CBAM) and
          per position (CBAM), computed from the features themselves, multiplying them.
        - On a task built so that the place matters, both attention CNNs beat the plain CNN with the same
          data and budget by about 30 points. CBAM and SE are within a few points of each other, and
          which one is ahead changes between the 2,000 stored test images and the 400 here (one
          training seed each): do not read a ranking into it.
        - **Selective focus**, tested: yes for channels (switch the channel gates off and CBAM falls to
          chance; CBAM's late-block gates name the class); weakly for space (the block-2 map points at
          shapes, the target more than a given distractor, but at a distractor more often than at the
          target; fixing the spatial gates at their mean costs 10 to 15 points).
        - **Interpretability**, tested: the spatial maps are readable only with baselines and
          interventions beside them. The pointing game against a random pixel alone would have
          flattered them; against a random shape and distractor hits, they are mostly objectness maps,
          and their mass is not on the target at all.
        - A model trained on synthetic shapes has no idea what a photograph is; its gates there are its
          own habits, not evidence about the image.

        Notebook 07 asks the same questions of a vision transformer, whose attention *is* a softmax.
    """),
]
