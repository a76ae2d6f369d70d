//! The `[[models]]` tables of a config: one table per model, tagged by `kind`, with documented
//! defaults, and their check against the schema ([`ModelsSection::validate`]).
//!
//! Plain serde data: every table denies unknown keys. Validation does no I/O; it returns a
//! [`ModelPlan`], the only form the training code accepts. Errors name the key path, e.g.
//! `models[2].rules[0].when[1].column`, and carry a `hint:`.

use std::collections::BTreeMap;
use std::path::Path;

use kiln_core::schema::{Schema, Task};
use serde::{Deserialize, Serialize};

use crate::baselines::rules::{RuleSet, compile_rules};

mod gbdt;
use crate::error::{Error, Result};
pub use gbdt::{GbdtCategorical, GbdtConfig, GbdtPlan};

/// The `[[models]]` array of a config file. Other top-level tables are ignored here: the whole
/// file, unknown top-level keys included, is checked by the binary's config loader.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelsSection {
    #[serde(default)]
    pub models: Vec<ModelConfig>,
}

/// One `[[models]]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelConfig {
    /// Predicts the training base rate (binary), class frequencies (multiclass) or mean
    /// (regression) for every row.
    Prior(PriorConfig),
    /// Hand-written rules on raw columns; the first matching rule gives the score.
    Rules(RulesConfig),
    /// Logistic / softmax / linear regression on the preprocessed features.
    Linear(LinearConfig),
    /// Gradient-boosted trees (the `perpetual` library).
    Gbdt(GbdtConfig),
    /// A multilayer perceptron.
    Mlp(MlpConfig),
    /// The tabular ResNet of Gorishniy et al. (2021), "Revisiting Deep Learning Models for
    /// Tabular Data".
    Resnet(ResnetConfig),
}

/// `kind = "prior"`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorConfig {
    /// Unique model name (default: the kind).
    #[serde(default)]
    pub name: Option<String>,
}

/// `kind = "rules"`: `default = { score = .. }` and ordered `[[models.rules]]` tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// Unique model name (default: the kind).
    #[serde(default)]
    pub name: Option<String>,
    /// The score of rows that no rule matches.
    pub default: DefaultRuleConfig,
    /// Rules in order; the first whose conditions all hold gives the row its score.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
}

/// The `default` of a rules model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultRuleConfig {
    /// Binary: P(positive), between 0 and 1; regression: the predicted value.
    pub score: f64,
    /// A short description shown where the rule is reported.
    #[serde(default)]
    pub label: Option<String>,
}

/// One `[[models.rules]]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Conditions that must all hold (at least one).
    pub when: Vec<ConditionConfig>,
    /// Binary: P(positive), between 0 and 1; regression: the predicted value.
    pub score: f64,
    /// A short description shown where the rule is reported.
    #[serde(default)]
    pub label: Option<String>,
}

/// A condition on one raw feature column: `{ column = "age", op = ">=", value = 40 }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionConfig {
    pub column: String,
    pub op: Op,
    /// A number (numeric columns), a category (categorical columns), a list of categories
    /// (`in`, `not_in`); `missing` takes none, or `false` for "is present".
    #[serde(default)]
    pub value: Option<RuleValue>,
}

/// Condition operators. A missing value never satisfies a comparison (`!=` and `not_in`
/// included), only `missing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "in")]
    In,
    #[serde(rename = "not_in")]
    NotIn,
    #[serde(rename = "missing")]
    Missing,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::In => "in",
            Op::NotIn => "not_in",
            Op::Missing => "missing",
        }
    }
}

/// A condition's value as written in the config.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum RuleValue {
    Bool(bool),
    Number(f64),
    Text(String),
    List(Vec<RuleValue>),
}

impl<'de> Deserialize<'de> for RuleValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_any(RuleValueVisitor)
    }
}

/// Reads a [`RuleValue`] with an error that says what is accepted.
struct RuleValueVisitor;

impl<'de> serde::de::Visitor<'de> for RuleValueVisitor {
    type Value = RuleValue;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a number, a text, a boolean or a list of them")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> std::result::Result<RuleValue, E> {
        Ok(RuleValue::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<RuleValue, E> {
        Ok(RuleValue::Number(v as f64))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<RuleValue, E> {
        Ok(RuleValue::Number(v as f64))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<RuleValue, E> {
        Ok(RuleValue::Number(v))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<RuleValue, E> {
        Ok(RuleValue::Text(v.to_string()))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<RuleValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(RuleValue::List(items))
    }
}

/// `kind = "linear"`: logistic (binary), softmax (multiclass) or linear (regression)
/// regression on the preprocessed features, trained by minibatch gradient descent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinearConfig {
    /// Unique model name (default: the kind).
    pub name: Option<String>,
    /// L2 penalty on the weights (default 1e-4, >= 0).
    pub l2: f64,
    /// Passes over the training rows (default 20).
    pub epochs: usize,
    /// Rows per gradient step (default 256).
    pub batch_size: usize,
    /// Learning rate (default 0.01, in (0, 1]).
    pub lr: f64,
}

impl Default for LinearConfig {
    fn default() -> Self {
        Self { name: None, l2: 1e-4, epochs: 20, batch_size: 256, lr: 0.01 }
    }
}

/// Activation functions of the MLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    #[default]
    Relu,
    Gelu,
    Silu,
    Tanh,
}

/// Normalization layers of the MLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Norm {
    #[default]
    None,
    Batch,
    Layer,
}

/// `kind = "mlp"`: a multilayer perceptron on the preprocessed features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MlpConfig {
    /// Unique model name (default: the kind).
    pub name: Option<String>,
    /// Widths of the hidden layers (default [256, 256]).
    pub hidden: Vec<usize>,
    /// Default `relu`; also `gelu`, `silu`, `tanh`.
    pub activation: Activation,
    /// Dropout after each hidden layer (default 0.1, in [0, 1)).
    pub dropout: f64,
    /// `none` (default), `batch` (batch statistics in training, running estimates when
    /// predicting, as PyTorch's `BatchNorm1d`) or `layer`.
    pub norm: Norm,
    /// Skip connections around hidden layers (default false; needs equal widths).
    pub residual: bool,
    /// Maximum passes over the training rows (default 50).
    pub epochs: usize,
    /// Rows per step (default 256).
    pub batch_size: usize,
    /// AdamW learning rate (default 1e-3, in (0, 1]).
    pub lr: f64,
    /// AdamW weight decay (default 1e-5, >= 0).
    pub weight_decay: f64,
    /// Epochs of linear learning-rate warmup (default 0, fewer than `epochs`).
    pub warmup_epochs: usize,
    /// Early stopping: epochs without a better validation loss before stopping (default 10).
    pub patience: usize,
}

impl Default for MlpConfig {
    fn default() -> Self {
        Self {
            name: None,
            hidden: vec![256, 256],
            activation: Activation::Relu,
            dropout: 0.1,
            norm: Norm::None,
            residual: false,
            epochs: 50,
            batch_size: 256,
            lr: 1e-3,
            weight_decay: 1e-5,
            warmup_epochs: 0,
            patience: 10,
        }
    }
}

/// `kind = "resnet"`: the tabular ResNet of Gorishniy et al. (2021): a linear layer to
/// `d_block`, `n_blocks` residual blocks (norm, linear to `d_block * d_hidden_factor`, ReLU,
/// dropout, linear back, dropout), then norm, ReLU and the head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResnetConfig {
    /// Unique model name (default: the kind).
    pub name: Option<String>,
    /// Width of the residual stream (default 256).
    pub d_block: usize,
    /// Residual blocks (default 1; on Adult one wide block beats two narrower ones).
    pub n_blocks: usize,
    /// Hidden width of a block as a multiple of `d_block` (default 2.0, > 0).
    pub d_hidden_factor: f64,
    /// Dropout inside each block (default 0.15, in [0, 1)).
    pub dropout: f64,
    /// Maximum passes over the training rows (default 100).
    pub epochs: usize,
    /// Rows per step (default 256).
    pub batch_size: usize,
    /// AdamW learning rate (default 1e-3, in (0, 1]).
    pub lr: f64,
    /// AdamW weight decay (default 1e-5, >= 0).
    pub weight_decay: f64,
    /// Early stopping: epochs without a better validation loss before stopping (default 16).
    pub patience: usize,
    /// Width of a learned embedding per categorical column (default: none, the categorical
    /// columns come in one-hot). When set, each column's index code (its `__other__` and
    /// `__missing__` buckets included) is looked up in its own table, as in the paper.
    pub embedding_dim: Option<usize>,
}

impl Default for ResnetConfig {
    fn default() -> Self {
        Self {
            name: None,
            d_block: 256,
            n_blocks: 1,
            d_hidden_factor: 2.0,
            dropout: 0.15,
            epochs: 100,
            batch_size: 256,
            lr: 1e-3,
            weight_decay: 1e-5,
            patience: 16,
            embedding_dim: None,
        }
    }
}

/// The checked models: names resolved and unique, hyperparameters in range, rules compiled
/// against the schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPlan {
    pub models: Vec<PlannedModel>,
}

/// One checked model.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedModel {
    /// The unique name (the `name` key, or the kind).
    pub name: String,
    pub spec: ModelSpec,
}

/// What to train, checked. Linear, MLP and ResNet models are carried as their checked
/// configs.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSpec {
    Prior,
    Rules(RuleSet),
    Linear(LinearConfig),
    Gbdt(GbdtPlan),
    Mlp(MlpConfig),
    Resnet(ResnetConfig),
}

impl ModelSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            ModelSpec::Prior => "prior",
            ModelSpec::Rules(_) => "rules",
            ModelSpec::Linear(_) => "linear",
            ModelSpec::Gbdt(_) => "gbdt",
            ModelSpec::Mlp(_) => "mlp",
            ModelSpec::Resnet(_) => "resnet",
        }
    }
}

impl ModelsSection {
    /// Parse the `[[models]]` tables of config text that came from `path`.
    pub fn from_toml(path: &Path, text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|source| Error::ConfigParse { path: path.to_path_buf(), source: Box::new(source) })
    }

    /// Check every model against the schema (no I/O).
    pub fn validate(&self, schema: &Schema) -> Result<ModelPlan> {
        let mut first_key: BTreeMap<String, String> = BTreeMap::new();
        let mut models = Vec::with_capacity(self.models.len());
        for (index, config) in self.models.iter().enumerate() {
            let planned = config.validate(index, schema)?;
            let key = format!("models[{index}].name");
            if let Some(first) = first_key.get(&planned.name) {
                return Err(Error::DuplicateName { key, name: planned.name, first: first.clone() });
            }
            first_key.insert(planned.name.clone(), key);
            models.push(planned);
        }
        Ok(ModelPlan { models })
    }
}

impl ModelConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            ModelConfig::Prior(_) => "prior",
            ModelConfig::Rules(_) => "rules",
            ModelConfig::Linear(_) => "linear",
            ModelConfig::Gbdt(_) => "gbdt",
            ModelConfig::Mlp(_) => "mlp",
            ModelConfig::Resnet(_) => "resnet",
        }
    }

    /// The `name` key, or the kind.
    pub fn name(&self) -> &str {
        let name = match self {
            ModelConfig::Prior(c) => &c.name,
            ModelConfig::Rules(c) => &c.name,
            ModelConfig::Linear(c) => &c.name,
            ModelConfig::Gbdt(c) => &c.name,
            ModelConfig::Mlp(c) => &c.name,
            ModelConfig::Resnet(c) => &c.name,
        };
        name.as_deref().unwrap_or(self.kind())
    }

    /// Check this table, the `index`-th of `[[models]]`, against the schema.
    pub fn validate(&self, index: usize, schema: &Schema) -> Result<PlannedModel> {
        let at = |key: &str| format!("models[{index}].{key}");
        let name = self.name().to_string();
        check_name(&at("name"), &name)?;
        let spec = match self {
            ModelConfig::Prior(_) => ModelSpec::Prior,
            ModelConfig::Rules(c) => {
                if schema.task == Task::Multiclass {
                    return Err(invalid(
                        &at("kind"),
                        "is `rules`, which scores binary and regression tasks; this project is multiclass".into(),
                        "use `prior` as the simple multiclass baseline",
                    ));
                }
                ModelSpec::Rules(compile_rules(&format!("models[{index}]"), c, schema)?)
            }
            ModelConfig::Linear(c) => {
                check_min(&at("l2"), c.l2, 0.0)?;
                check_count(&at("epochs"), c.epochs)?;
                check_count(&at("batch_size"), c.batch_size)?;
                check_lr(&at("lr"), c.lr)?;
                ModelSpec::Linear(c.clone())
            }
            ModelConfig::Gbdt(c) => ModelSpec::Gbdt(c.validate(&format!("models[{index}]"))?),
            ModelConfig::Mlp(c) => {
                if c.hidden.is_empty() {
                    return Err(invalid(&at("hidden"), "is empty".into(), "list the hidden widths, e.g. [256, 256]"));
                }
                if let Some(i) = c.hidden.iter().position(|w| *w == 0) {
                    return Err(invalid(
                        &at(&format!("hidden[{i}]")),
                        "is 0".into(),
                        "every hidden layer needs a width >= 1",
                    ));
                }
                if c.residual && c.hidden.windows(2).any(|w| w[0] != w[1]) {
                    return Err(invalid(
                        &at("residual"),
                        format!("is true but the hidden widths {:?} differ", c.hidden),
                        "skip connections need equal widths, e.g. hidden = [256, 256, 256]",
                    ));
                }
                check_dropout(&at("dropout"), c.dropout)?;
                check_count(&at("epochs"), c.epochs)?;
                check_count(&at("batch_size"), c.batch_size)?;
                if c.norm == Norm::Batch && c.batch_size < 2 {
                    return Err(invalid(
                        &at("batch_size"),
                        "is 1 but norm is `batch`, which normalizes over the rows of a batch".into(),
                        "use batches of at least 2 rows (e.g. 256), or norm = \"layer\"",
                    ));
                }
                check_lr(&at("lr"), c.lr)?;
                check_min(&at("weight_decay"), c.weight_decay, 0.0)?;
                if c.warmup_epochs >= c.epochs {
                    return Err(invalid(
                        &at("warmup_epochs"),
                        format!("is {} but epochs is {}", c.warmup_epochs, c.epochs),
                        "warm up for fewer epochs than the run has",
                    ));
                }
                check_count(&at("patience"), c.patience)?;
                ModelSpec::Mlp(c.clone())
            }
            ModelConfig::Resnet(c) => {
                check_count(&at("d_block"), c.d_block)?;
                check_count(&at("n_blocks"), c.n_blocks)?;
                if !(c.d_hidden_factor > 0.0 && c.d_hidden_factor.is_finite()) {
                    return Err(invalid(
                        &at("d_hidden_factor"),
                        format!("is {}", c.d_hidden_factor),
                        "use a positive factor; the paper searches 1 to 4",
                    ));
                }
                check_dropout(&at("dropout"), c.dropout)?;
                check_count(&at("epochs"), c.epochs)?;
                check_count(&at("batch_size"), c.batch_size)?;
                check_lr(&at("lr"), c.lr)?;
                check_min(&at("weight_decay"), c.weight_decay, 0.0)?;
                check_count(&at("patience"), c.patience)?;
                if c.embedding_dim == Some(0) {
                    return Err(invalid(
                        &at("embedding_dim"),
                        "is 0".into(),
                        "use a width >= 1 (the paper searches 8 to 64), or remove the key for one-hot inputs",
                    ));
                }
                ModelSpec::Resnet(c.clone())
            }
        };
        Ok(PlannedModel { name, spec })
    }
}

pub(crate) fn invalid(key: &str, problem: String, hint: &str) -> Error {
    Error::InvalidValue { key: key.to_string(), problem, hint: hint.to_string() }
}

fn check_name(key: &str, name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("is {name:?}"),
            "start with a letter or digit, then use letters, digits, `_`, `-` and `.`",
        ))
    }
}

fn check_count(key: &str, value: usize) -> Result<()> {
    if value == 0 { Err(invalid(key, "is 0".into(), "use a whole number >= 1")) } else { Ok(()) }
}

fn check_min(key: &str, value: f64, min: f64) -> Result<()> {
    if value >= min && value.is_finite() {
        Ok(())
    } else {
        Err(invalid(key, format!("is {value}"), &format!("use a finite number >= {min}")))
    }
}

fn check_lr(key: &str, value: f64) -> Result<()> {
    if value > 0.0 && value <= 1.0 {
        Ok(())
    } else {
        Err(invalid(key, format!("is {value}"), "use a learning rate in (0, 1], e.g. 1e-3"))
    }
}

fn check_dropout(key: &str, value: f64) -> Result<()> {
    if (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(invalid(key, format!("is {value}"), "use a dropout rate in [0, 1), e.g. 0.1"))
    }
}
