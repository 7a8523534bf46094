from author import answer, check, code, md

CELLS = [
    md("""
        # 07 · Vision transformers, and is attention explanation?

        **Goal.** You will look inside a small vision transformer (ViT) trained on the shapes of
        notebook 06, read what its [CLS] token attends to layer by layer, and then *test* the
        claim that attention maps are an interpretable explanation of a prediction. By the end you
        can compute attention rollout, score a map with the pointing game and with a deletion curve,
        and say what swapping attention for uniform weights, or retraining with another seed, does
        and does not tell you.

        Run the cells from top to bottom (Shift+Enter). Cells marked *Exercise* are yours; the cell
        after each one checks your answer.
    """),
    code("""
        import matplotlib.pyplot as plt
        import numpy as np

        import attnwidgets as aw
        from attnwidgets.course import vision, vit
    """),
    md("""
        ## 1. A transformer that reads patches

        A ViT cuts the image into square patches, turns each patch into a vector with one linear
        map, adds a learned position vector, and puts one extra token in front: **[CLS]**, which
        starts the same for every image. Then it runs ordinary Transformer encoder layers (the ones
        of notebook 03) over the sequence. The classifier reads only [CLS]'s final vector, so
        whatever the model knows about the image must reach [CLS] through attention.

        Our ViT is tiny, and it is a real Hugging Face `ViTForImageClassification` with a small
        config: `aw.capture` records it like any ViT on the hub. Like a hub model it comes with an
        image processor, `vit.preprocess`: it standardises each 8x8 patch (zero mean, unit spread
        over its 192 numbers), so a patch is described by its pattern, not by its brightness.
        Three copies were trained from different random seeds on the same 48,000 images
        (`python -m attnwidgets.course.vit train --seed S`).
    """),
    code("""
        models = {seed: aw.load_model(vit.name(seed))[0] for seed in vit.SEEDS}
        model = models[0]
        print(vit.describe(model))
    """),
    md("""
        The task is notebook 06's: name the kind of the odd-coloured shape (circle, square, triangle,
        plus, diamond) among distractors of one other colour on a cluttered background. These 200
        images were never used in training; the accuracy on 2,000 other fresh images was measured
        when each model was trained.
    """),
    code("""
        images, labels, target, distractor, info = vision.make_images(200, vit.NOTEBOOK_SEED, details=True)
        print(vit.accuracy_report(models, images, labels))
    """),
    code("""
        vit.plot_training()
        plt.show()
    """),
    md("""
        The ViT is well below notebook 06's CNNs (the second table): it has no built-in sense that
        neighbouring pixels belong together, and an 8x8 patch cuts most shapes into pieces at
        random offsets, so it must learn shape from 48,000 images. The training curves show the
        cost: several hundred steps at chance before anything is learned, and the models are still
        improving when the budget (1,700 steps of 128 images) runs out. The three seeds end at
        almost the same accuracy, about 44% against 20% for chance: there is something to explain,
        and three equally good models to compare.

        ## 2. What [CLS] looks at

        `aw.capture` runs the model once and keeps every layer's attention, with the patch grid:
    """),
    code("""
        record = aw.capture(model, None, {"pixel_values": vit.preprocess(images[:1])})
        print(record.weights.shape, "= [layers, heads, queries, keys]; grid", record.grid, "; first tokens", record.query_tokens[:3])
    """),
    md("""
        Each layer has 4 heads; each head gives [CLS] a distribution over the 65 tokens. Below,
        left, is [CLS]'s attention over the 64 patches (the 8x8 grid laid over the image; [CLS]'s
        weight on itself is left out). Pick a layer and a head, or the mean of the heads. Move the
        image slider: does the last layer look at the odd-coloured shape?

        But a patch token in layer 3 is no longer that patch: layers 0-2 have already mixed
        information from everywhere into it. **Attention rollout** (Abnar and Zuidema 2020) follows
        the mixing back to the input: treat each layer as a mixing matrix that also keeps half of
        each token itself (the residual connection), $\\tilde A_l = \\tfrac12 (A_l + I)$ with the heads
        averaged, and multiply: $R_l = \\tilde A_l \\tilde A_{l-1} \\cdots \\tilde A_0$. Row [CLS] of
        $R_l$ says how much of each input patch has flowed into [CLS] by layer $l$ (right; the
        layer menus are linked).
    """),
    code("""
        vit.explorer(model, images, labels)
    """),
    md("""
        ### Exercise 1: rollout of two layers

        Write `rollout_two(a1, a2)`: given the head-averaged attention matrices of layer 1 and
        layer 2 (each `[T, T]`, rows summing to 1), return the rollout after both layers,
        $\\tfrac12 (A_2 + I)\\, \\tfrac12 (A_1 + I)$. Try it on the 3x3 example below.
    """),
    code("""
        print("A1 =\\n", vit.EX_A1, "\\nA2 =\\n", vit.EX_A2)
    """),
    answer("ex1", '''
        def rollout_two(a1, a2):
            """Attention rollout through two layers with the residual mixed in: [T, T]."""
            ### BEGIN SOLUTION
            eye = np.eye(len(a1))
            return (a2 + eye) / 2 @ ((a1 + eye) / 2)
            ### END SOLUTION
            raise NotImplementedError("write the body of rollout_two above")
    '''),
    check("ex1", "vit.check_rollout(rollout_two)", hidden="assert vit.check_rollout(rollout_two)"),
    md("""
        ## 3. Four candidate explanations

        For every image we now compute four maps over the 8x8 patches:

        - **raw attention**: the last layer's [CLS] row, mean of the heads;
        - **rollout**: as above, through all four layers;
        - **gradient x attention** (Chefer, Gur and Wolf 2021): weight each attention entry by the
          gradient of the predicted class's score with respect to it, keep the positive part,
          average the heads, and roll that through the layers ($R \\leftarrow R + \\bar A_l R$). It
          asks not only where [CLS] looked but where looking *changed the score*;
        - **random**: noise, the floor every score must beat.

        The red box marks each map's top cell; the white line outlines the target.
    """),
    code("""
        maps = {seed: vit.maps(models[seed], images, seed=seed) for seed in vit.SEEDS}  # seed: each model its own random map
        vit.plot_maps(images, maps[0], target, indices=[0, 1, 2, 3])
        plt.show()
    """),
    md("""
        ## 4. The pointing game: does the map point where *we* would?

        A map "hits" when its top cell (at its own 8x8 resolution: upsampling first moves the top
        of a noisy map around) has its centre on the target. Two baselines keep the score honest:
        the target covers about 3% of the image, which is what a random map scores; and a model
        that found *a* shape but not *the* shape would land on a distractor instead. We also
        measure the share of the map's mass that falls inside the target.
    """),
    code("""
        pointing_scores = vit.pointing_table(maps[0], target, distractor)
        print(vit.pointing_report(pointing_scores, target, info.n_shapes))
    """),
    md("""
        ### Exercise 2: the pointing game for one map

        Write `hits_target(attention_map, mask)`: `attention_map` is an `[8, 8]` array, `mask` a
        `[64, 64]` boolean array. Find the map's highest cell (row `r`, column `c`) and return
        `True` when the pixel at its centre, `mask[8 * r + 4, 8 * c + 4]`, is inside the mask.
    """),
    answer("ex2", '''
        def hits_target(attention_map, mask):
            """True when the centre pixel of the map's top cell is on the mask."""
            ### BEGIN SOLUTION
            r, c = np.unravel_index(np.argmax(attention_map), attention_map.shape)
            return bool(mask[8 * r + 4, 8 * c + 4])
            ### END SOLUTION
            raise NotImplementedError("write the body of hits_target above")
    '''),
    check("ex2", "vit.check_pointing(hits_target)", hidden="assert vit.check_pointing(hits_target)"),
    md("""
        ## 5. Deletion: does the map point where *the model* looks?

        The pointing game compares a map with our idea of the evidence. A model may use other
        evidence (the colour contrast at the shape's edge, the background next to it). The
        **deletion curve** asks the model instead: paint over the patches in the order the map
        ranks them, most important first, one flat colour each (after the processor a flat patch is
        all zeros: nothing left to read), and watch the probability of the class the model
        predicted on the intact image. A faithful map makes it fall early; the area under the
        curve summarises it (lower is better). Random order is the floor; deleting the target's
        patches first is a reference that knows the mask. Each curve costs 9 forward passes per
        image, so we use the first 100 images.
    """),
    code("""
        few = slice(0, 100)
        curves = vit.deletion_curves(model, images[few], vit.subset(maps[0], few), target[few], vit.fill_colour(0), step=8)
        ranking = vit.ranked(curves)
        aw.Predict(
            "Deleting patches in the order each map ranks them: which map makes the predicted class's probability fall fastest?",
            [vit.MAP_NAMES[k] for k in vit.MAPS],
            answer=vit.MAP_NAMES[ranking[0]],
            reveal=vit.figure_widget(vit.plot_deletion(curves)),
            explain=vit.deletion_explanation(curves),
        )
    """),
    md("""
        ### Exercise 3: the area under a deletion curve

        A deletion curve was measured at these fractions of patches deleted, with these mean
        probabilities. Compute the area under it with the trapezoid rule (each step contributes its
        width times the mean of its two ends) and store it in `area`.
    """),
    code("""
        print("fractions:", vit.EX_FRACTIONS, " probabilities:", vit.EX_PROBS)
    """),
    answer("ex3", """
        area = None
        ### BEGIN SOLUTION
        area = float(np.sum((vit.EX_PROBS[1:] + vit.EX_PROBS[:-1]) / 2 * np.diff(vit.EX_FRACTIONS)))
        ### END SOLUTION
    """),
    check("ex3", "vit.check_auc(area)", hidden="assert vit.check_auc(area)"),
    md("""
        ## 6. Swap the attention: does the prediction care?

        Jain and Wallace (2019) asked whether attention weights can be changed without changing
        the prediction: if they can, the weights were not what the model relied on. Here we make
        one layer's attention **uniform** (every token gets 1/65) or **permute** each row (the same
        weights, shuffled over the tokens) at inference, without retraining, and count how often
        the prediction survives.
    """),
    code("""
        swaps = vit.swap_table(model, images[few], labels[few])
        print(vit.swap_report(swaps))
    """),
    md("""
        Look at which layer matters. Flattening layer 0 sends the accuracy to about chance, while the
        last layer, the one whose [CLS] map is usually drawn as "the explanation", can be made
        uniform with most predictions surviving (on the 2,000 test images: 79%, 61% and 80% for
        the three seeds, accuracy down by 1.6 to 7 points): by then the patch tokens already carry
        most of what [CLS] needs, and how [CLS] averages them matters less.

        Read this with Wiegreffe and Pinter (2019) in mind: a prediction that survives a swap shows
        that *that layer's* weights were not needed on those images, not that attention explains
        nothing; a prediction that dies shows the weights matter, not that the map is a faithful
        explanation. Swaps and deletion answer different questions, so we report both.

        ## 7. Three seeds: same accuracy, same explanation?

        If a map explained *the task*, models that solve it equally well should draw similar maps.
        For each pair of seeds we correlate the ranks of their maps on the same image (Spearman,
        over the 64 patches), also on images both got right, and against a different image (what
        two maps share only because of where things tend to be, such as the border).
    """),
    code("""
        pairs = vit.seed_agreement(maps, labels)
        print(vit.agreement_report(pairs))
    """),
    md("""
        ## Summary: what the numbers support

        The seed note calls attention an "interpretable representation". The measurements above
        (and the same ones on 2,000 held-out images, from `python -m attnwidgets.course.vit evaluate`):
    """),
    code("""
        print(vit.summary(pointing_scores, curves, swaps, pairs, target))
    """),
    md("""
        - **Supported: the maps carry information.** Every attention-based map beats the random
          floor by a wide margin: its top cell is on the target 12-23% of the time against 2-4% for
          noise (the target is 3% of the image), and deleting patches in its order lowers the
          prediction faster than random deletion.
        - **Not supported: "the map shows where the model looked for its answer".** No map points
          at the target more often than picking one of the shapes at random would (about 24%); the
          top cell lands on a distractor about as often as on the target. The raw last-layer map,
          the one usually shown, is the weakest: its deletion area is barely below random and above
          deleting the target itself, and its layer can be made uniform with most predictions
          surviving. Rollout points best; gradient x attention is the most faithful by deletion
          (it uses the model's own gradient, so it is partly graded on its own terms). Both beat
          "delete the target first": the prediction rests on more than the target's patches.
        - **Not supported: "attention is *the* interpretable representation".** Three seeds reach
          the same accuracy, yet agree on only about 40% of the predictions, and their maps of the
          same image are nearly uncorrelated for raw attention (about 0), weakly for gradient x
          attention (about 0.1-0.2) and moderately for rollout (about 0.4). Equally good models
          compute their answers differently; an attention map is a view of one of those
          computations, and how faithful it is has to be measured (deletion, swaps), not assumed.

        Further reading: Abnar and Zuidema 2020 (rollout), Chefer, Gur and Wolf 2021 (gradient-weighted
        relevance), Jain and Wallace 2019 and Wiegreffe and Pinter 2019 (the attention-as-explanation
        debate), Samek et al. 2017 and Petsiuk et al. 2018 (deletion curves), Zhang et al. 2018 (the
        pointing game).
    """),
]
