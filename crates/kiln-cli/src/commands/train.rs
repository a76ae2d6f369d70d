//! `kiln train` (fit every configured model, export the best to a bundle, record the run)
//! and `kiln predict` (batch inference from a bundle).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use kiln_core::bundle::{Bundle, DataHashes, FORMAT_VERSION, KILN_VERSION, Manifest, ReferenceDistributions};
use kiln_core::device::DeviceSpec;
use kiln_data::config::FileFormat;
use kiln_data::fit::{feature_columns, fit_preprocessor, with_refs};
use kiln_data::load::{self, Source, Table};
use kiln_data::split::{self, Part};
use kiln_data::write;
use kiln_track::{AuditAction, DataVersions, NewAuditEvent, NewModelVersion, NewRun, RunStatus};
use kiln_train::backend::{Backend, Precision};
use kiln_train::config::ModelsSection;
use kiln_train::nn::EpochStats;
use kiln_train::session::{Score, fit_model_on, score};
use kiln_train::trained::TrainedModel;
use polars::prelude::{Column as PlColumn, DataFrame, Float64Chunked, IntoColumn, NewChunkedArray, StringChunked};
use serde::Serialize;

use crate::output::{self, Format, Table as OutTable, num};
use crate::progress::Progress;
use crate::run_config;
use crate::{EXIT_FAILED, EXIT_OK};

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The config file.
    pub config: PathBuf,
    /// Where to write the bundle (default `.kiln/bundles/<project>-<model>-<run>.safetensors`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// auto, cpu, cuda or cuda:N (neural models; baselines and trees train on the CPU).
    #[arg(long, default_value = "auto")]
    pub device: DeviceSpec,
    /// f32, or bf16 matrix products (needs --device cuda or cpu-candle).
    #[arg(long, default_value = "f32")]
    pub precision: Precision,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The model bundle (.safetensors).
    #[arg(long)]
    pub bundle: PathBuf,
    /// Rows to score: Parquet, or CSV with a header.
    #[arg(long)]
    pub data: PathBuf,
    /// Where to write the predictions (.parquet or .csv).
    #[arg(long)]
    pub out: PathBuf,
}

/// One trained model's line in the result.
#[derive(Debug, Serialize)]
struct ModelLine {
    name: String,
    kind: &'static str,
    train_seconds: f64,
    validation: Score,
    test: Option<Score>,
    exported: bool,
}

#[derive(Debug, Serialize)]
struct TrainResult {
    run_id: String,
    bundle: String,
    bundle_sha256: String,
    model: String,
    version: i64,
    models: Vec<ModelLine>,
}

pub fn train(args: &TrainArgs, store_path: &Path, progress: Progress, out: &mut dyn Write) -> anyhow::Result<i32> {
    let config = run_config::load(&args.config)?;
    let device = Backend::select(args.device, args.precision)?;
    let plan = &config.plan;
    let step = progress.step(format!("reading {}", plan.train_path.display()));
    let train_file = load::load(plan, Source::Train, plan.validation.max_examples)?;
    let test_file = plan.test_path.as_ref().map(|_| load::load(plan, Source::Test, 5)).transpose()?;
    step.done();
    let report = kiln_data::validate::validate(
        &config.path.display().to_string(),
        &plan.validation,
        &train_file,
        test_file.as_ref(),
    )?;
    if !report.passed() {
        // A validation gate, not a crash: report every finding and exit 1.
        let mut t = OutTable::new(&["check", "file", "column", "count", "detail"]).titled(format!(
            "training refused: {} fails validation ({} error(s)); see `kiln data validate`",
            config.path.display(),
            report.n_errors()
        ));
        for f in report.findings.iter().filter(|f| f.severity == kiln_data::findings::Severity::Error) {
            t.push(vec![
                f.check.as_str().into(),
                f.file.clone(),
                f.column.clone().unwrap_or_default(),
                f.count.to_string(),
                f.message.clone(),
            ]);
        }
        output::emit(out, args.format, &[t], &report)?;
        return Ok(EXIT_FAILED);
    }
    let schema = train_file.schema.clone();
    let models = ModelsSection { models: config.config.models.clone() }
        .validate(&schema)
        .with_context(|| format!("checking [[models]] in {}", config.path.display()))?;
    anyhow::ensure!(!models.models.is_empty(), "{} declares no [[models]]", config.path.display());

    let n_test_rows = test_file.as_ref().map_or(0, Table::n_rows);
    let split = split::assign(&plan.split, plan.split_seed, &train_file, n_test_rows)?;
    let snapshot =
        kiln_data::snapshot::snapshot(&config.path.display().to_string(), &train_file, test_file.as_ref(), &split)?;
    let train_df = split.select(&train_file.df, Part::Train)?;
    let valid_df = split.select(&train_file.df, Part::Validation)?;
    let test_df = match &test_file {
        Some(t) => t.df.clone(),
        None => split.select(&train_file.df, Part::Test)?,
    };
    let holdout = if valid_df.height() > 0 { &valid_df } else { &test_df };
    let preprocessor = fit_preprocessor(&plan.preprocess, &train_df, &schema)?;

    let store = crate::commands::track::open_store(store_path)?;
    let git = kiln_track::git_info(Path::new("."));
    let params: BTreeMap<String, String> = models
        .models
        .iter()
        .map(|m| (format!("model.{}", m.name), m.spec.kind().to_string()))
        .chain([("split.method".to_string(), snapshot.split.method.clone())])
        .collect();
    let run = store.start_run(&NewRun {
        name: plan.project.name.clone(),
        command: "train".into(),
        config: config.text.clone(),
        params,
        data: DataVersions {
            data_hash: Some(snapshot.dataset_hash.clone()),
            schema_hash: Some(snapshot.schema_hash.clone()),
            split_hash: Some(snapshot.split.hash.clone()),
        },
        git: git.clone(),
        seed: Some(plan.project.seed),
        device: Some(device.to_string()),
        kiln_version: KILN_VERSION.into(),
    })?;
    let run_id = run.id().to_string();

    let mut lines = Vec::new();
    let mut trained = Vec::new();
    for planned in &models.models {
        let label = format!("training {} ({})", planned.name, planned.spec.kind());
        let step = progress.step(&label);
        let mut on_epoch = |e: &EpochStats| {
            step.set_message(format!(
                "{label}: epoch {} loss {:.4} valid {:.4} {:.0} samples/s",
                e.epoch, e.train_loss, e.valid_metric, e.samples_per_sec
            ));
        };
        let fitted = fit_model_on(
            &device,
            planned,
            plan.project.seed,
            &preprocessor,
            &train_df,
            holdout,
            &schema,
            &mut on_epoch,
        );
        step.done();
        let (model, report, seconds) = match fitted {
            Ok(fitted) => fitted,
            Err(e) => {
                run.fail(&format!("{e}"))?;
                return Err(anyhow::Error::new(e).context(format!("training model `{}`", planned.name)));
            }
        };
        if let Some(report) = &report {
            for e in &report.epochs {
                let step = e.epoch as u64;
                run.log_metrics(&[
                    (&format!("{}.epoch.train_loss", planned.name), step, e.train_loss),
                    (&format!("{}.epoch.valid_metric", planned.name), step, e.valid_metric),
                    (&format!("{}.epoch.samples_per_sec", planned.name), step, e.samples_per_sec),
                ])?;
            }
        }
        let validation = score(&model.predict(holdout)?, holdout, &schema)?;
        let test = score(&model.predict(&test_df)?, &test_df, &schema)?;
        run.log_metrics(&[
            (&format!("{}.valid_{}", planned.name, validation.metric), 0, validation.value),
            (&format!("{}.test_{}", planned.name, test.metric), 0, test.value),
            (&format!("{}.train_seconds", planned.name), 0, seconds),
        ])?;
        lines.push(ModelLine {
            name: planned.name.clone(),
            kind: model.kind(),
            train_seconds: seconds,
            validation,
            test: Some(test),
            exported: false,
        });
        trained.push(model);
    }
    let best = (0..lines.len())
        .reduce(|best, i| if lines[i].validation.beats(&lines[best].validation) { i } else { best })
        .expect("at least one model was trained");
    lines[best].exported = true;

    // Export the chosen model.
    let features = feature_columns(&train_df, &schema)?;
    let reference = with_refs(&features, |refs| ReferenceDistributions::fit(&preprocessor, refs))?;
    let n_outputs = if schema.task == kiln_core::schema::Task::Multiclass { schema.classes.len() } else { 1 };
    let (architecture, tensors) = trained[best].to_bundle_parts(n_outputs)?;
    let test_score = lines[best].test.unwrap_or(lines[best].validation);
    let manifest = Manifest {
        format_version: FORMAT_VERSION.into(),
        task: schema.task,
        schema: schema.clone(),
        preprocessor: preprocessor.clone(),
        architecture,
        hyperparameters: serde_json::to_value(&config.config.models[best])?,
        data: DataHashes {
            data_hash: snapshot.dataset_hash.clone(),
            schema_hash: snapshot.schema_hash.clone(),
            split_hash: snapshot.split.hash.clone(),
        },
        metrics: BTreeMap::from([(test_score.metric.to_string(), test_score.value)]),
        reference,
        git_commit: git.as_ref().map(|g| g.commit.clone()),
        git_dirty: git.as_ref().is_some_and(|g| g.dirty),
        kiln_version: KILN_VERSION.into(),
        created_at: kiln_track::format_rfc3339(now_ms()),
        device: device.to_string(),
    };
    let model_name = &lines[best].name;
    let bundle_path = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(".kiln/bundles").join(format!("{}-{model_name}-{run_id}.safetensors", plan.project.name))
    });
    Bundle::new(manifest, tensors).write(&bundle_path)?;
    let artifact = run.log_artifact(&bundle_path)?;
    let version = store.register_model(&NewModelVersion {
        name: plan.project.name.clone(),
        run_id: run.id().clone(),
        bundle_path: bundle_path.display().to_string(),
        bundle_sha256: artifact.sha256.clone(),
        passed: false,
        verdict: serde_json::json!({ "status": "not evaluated", "model": model_name }),
        actor: kiln_track::default_actor(),
    })?;
    for (action, target) in
        [(AuditAction::Train, run_id.clone()), (AuditAction::Export, bundle_path.display().to_string())]
    {
        store.append_audit(&NewAuditEvent {
            actor: kiln_track::default_actor(),
            action,
            target,
            reason: None,
            details: serde_json::json!({ "run": run_id, "model": model_name, "sha256": artifact.sha256 }),
        })?;
    }
    run.finish(RunStatus::Finished)?;

    let mut t = OutTable::new(&["model", "kind", "validation", "test", "train s", "exported"]).titled(format!(
        "run {run_id}: {} v{} -> {}",
        plan.project.name,
        version.version,
        bundle_path.display()
    ));
    for line in &lines {
        t.push(vec![
            line.name.clone(),
            line.kind.into(),
            format!("{} {}", line.validation.metric, num(line.validation.value, 4)),
            line.test.map(|s| format!("{} {}", s.metric, num(s.value, 4))).unwrap_or_default(),
            num(line.train_seconds, 2),
            if line.exported { "yes".into() } else { String::new() },
        ]);
    }
    let result = TrainResult {
        run_id,
        bundle: bundle_path.display().to_string(),
        bundle_sha256: artifact.sha256,
        model: plan.project.name.clone(),
        version: version.version,
        models: lines,
    };
    output::emit(out, args.format, &[t], &result)?;
    Ok(EXIT_OK)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub fn predict(args: &PredictArgs, progress: Progress, out: &mut dyn Write) -> anyhow::Result<i32> {
    let bundle = Bundle::read(&args.bundle)?;
    let model = TrainedModel::from_bundle(&bundle)
        .with_context(|| format!("loading the model in {}", args.bundle.display()))?;
    let schema = &bundle.manifest.schema;
    let step = progress.step(format!("reading {}", args.data.display()));
    let table = load::load_for_schema(&args.data, schema, 5)?;
    step.done();
    if let Some(first) = table.findings.first() {
        anyhow::bail!("{} has {} bad cell(s); first: {}", args.data.display(), first.count, first.summary());
    }
    let predictions = model.predict(&table.df)?;
    let mut columns: Vec<PlColumn> = Vec::new();
    for id in schema.columns.iter().filter(|c| c.role == kiln_core::schema::Role::Id) {
        if let Ok(column) = table.df.column(&id.name) {
            columns.push(column.clone());
        }
    }
    match schema.task {
        kiln_core::schema::Task::Binary => {
            let positive = schema.classes.last().cloned().unwrap_or_default();
            let negative = schema.classes.first().cloned().unwrap_or_default();
            let p = predictions.values.clone();
            let labels = p.iter().map(|v| if *v >= 0.5 { positive.as_str() } else { negative.as_str() });
            columns.push(Float64Chunked::from_vec(format!("p_{positive}").into(), p.clone()).into_column());
            columns.push(StringChunked::from_iter_values("predicted".into(), labels).into_column());
        }
        kiln_core::schema::Task::Multiclass => {
            for (k, class) in schema.classes.iter().enumerate() {
                let p: Vec<f64> = (0..predictions.n_rows).map(|r| predictions.row(r)[k]).collect();
                columns.push(Float64Chunked::from_vec(format!("p_{class}").into(), p).into_column());
            }
            let labels = predictions.argmax().into_iter().map(|k| schema.classes[k].as_str());
            columns.push(StringChunked::from_iter_values("predicted".into(), labels).into_column());
        }
        kiln_core::schema::Task::Regression => {
            columns.push(Float64Chunked::from_vec("predicted".into(), predictions.values.clone()).into_column());
        }
    }
    let mut df = DataFrame::new_infer_height(columns).context("assembling the predictions")?;
    let format = FileFormat::from_path(&args.out).unwrap_or(FileFormat::Parquet);
    write::write_table(&args.out, format, &mut df)?;
    let mut t = OutTable::new(&["bundle", "rows", "predictions"]).titled("predictions written");
    t.push(vec![args.bundle.display().to_string(), predictions.n_rows.to_string(), args.out.display().to_string()]);
    output::emit(out, Format::Table, &[t], &())?;
    Ok(EXIT_OK)
}
