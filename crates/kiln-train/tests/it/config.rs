//! `[[models]]` parsing, defaults and checks against the schema.

use std::path::Path;

use kiln_core::schema::{DType, Role, Schema, Task};
use kiln_train::Error;
use kiln_train::baselines::rules::Test;
use kiln_train::config::{
    Activation, GbdtCategorical, GbdtConfig, LinearConfig, MlpConfig, ModelConfig, ModelSpec, ModelsSection, Norm,
    ResnetConfig,
};

use crate::common::{column, schema};

fn binary_schema() -> Schema {
    schema(
        Task::Binary,
        vec![
            column("age", DType::Int, Role::Numeric),
            column("income", DType::Float, Role::Numeric),
            column("workclass", DType::String, Role::Categorical),
            column("active", DType::Bool, Role::Categorical),
            column("store", DType::String, Role::Attribute),
            column("y", DType::String, Role::Target),
        ],
        &["no", "yes"],
    )
}

fn parse(text: &str) -> ModelsSection {
    toml::from_str(text).expect("models parse")
}

fn check(text: &str) -> Result<kiln_train::config::ModelPlan, Error> {
    parse(text).validate(&binary_schema())
}

/// The key and message of an `InvalidValue`.
fn invalid(text: &str) -> (String, String) {
    let error = check(text).expect_err(text);
    let Error::InvalidValue { key, .. } = &error else { panic!("expected InvalidValue, got {error:?}") };
    (key.clone(), error.to_string())
}

const ALL_KINDS: &str = r#"
[[models]]
kind = "prior"

[[models]]
kind = "rules"
name = "analyst"
default = { score = 0.1 }

[[models.rules]]
when = [{ column = "age", op = ">=", value = 40 }, { column = "workclass", op = "in", value = ["Private", "State-gov"] }]
score = 0.6
label = "older, private or state"

[[models.rules]]
when = [{ column = "income", op = "missing" }]
score = 0.3

[[models]]
kind = "linear"

[[models]]
kind = "gbdt"
num_iterations = 150
categorical = "native"
seed = 7

[[models]]
kind = "mlp"
hidden = [64, 64]
activation = "gelu"
norm = "layer"
residual = true

[[models]]
kind = "resnet"
d_block = 128
"#;

#[test]
fn every_kind_parses_with_documented_defaults() {
    let section = parse(ALL_KINDS);
    let kinds: Vec<&str> = section.models.iter().map(ModelConfig::kind).collect();
    assert_eq!(kinds, ["prior", "rules", "linear", "gbdt", "mlp", "resnet"]);
    let names: Vec<&str> = section.models.iter().map(ModelConfig::name).collect();
    assert_eq!(names, ["prior", "analyst", "linear", "gbdt", "mlp", "resnet"]);
    assert_eq!(section.models[2], ModelConfig::Linear(LinearConfig::default()));
    assert_eq!(
        section.models[3],
        ModelConfig::Gbdt(GbdtConfig {
            num_iterations: 150,
            categorical: GbdtCategorical::Native,
            seed: Some(7),
            ..GbdtConfig::default()
        })
    );
    let ModelConfig::Mlp(mlp) = &section.models[4] else { panic!("mlp") };
    assert_eq!((mlp.activation, mlp.norm, mlp.residual), (Activation::Gelu, Norm::Layer, true));
    assert_eq!((mlp.epochs, mlp.batch_size, mlp.patience), (50, 256, 10));
    let ModelConfig::Resnet(resnet) = &section.models[5] else { panic!("resnet") };
    assert_eq!(*resnet, ResnetConfig { d_block: 128, ..ResnetConfig::default() });
    assert_eq!(resnet.embedding_dim, None, "one-hot inputs unless embedding_dim is set");
    assert_eq!(MlpConfig::default().hidden, [256, 256]);
    let defaults = GbdtConfig::default();
    // LightGBM's own defaults.
    assert_eq!((defaults.num_iterations, defaults.learning_rate, defaults.num_leaves), (100, 0.1, 31));
    assert_eq!((defaults.min_data_in_leaf, defaults.max_bin, defaults.early_stopping_rounds), (20, 255, None));

    let plan = section.validate(&binary_schema()).expect("valid");
    assert_eq!(plan.models.len(), 6);
    let ModelSpec::Rules(rules) = &plan.models[1].spec else { panic!("rules") };
    assert_eq!(rules.rules.len(), 2);
    assert_eq!(rules.rules[0].when[0].test, Test::Ge(40.0));
    assert_eq!(rules.rules[0].when[1].test, Test::In(vec!["Private".into(), "State-gov".into()]));
    assert_eq!(rules.rules[1].when[0].test, Test::Missing { missing: true, numeric: true });
    assert_eq!(rules.default_score, 0.1);
    let ModelSpec::Gbdt(gbdt) = &plan.models[3].spec else { panic!("gbdt") };
    assert_eq!((gbdt.config().num_iterations, gbdt.seed_or(42)), (150, 7));
    let params = gbdt.lightgbm_params(Task::Binary, 2, 7, 3..5);
    assert!(params.starts_with("objective=binary metric=binary_logloss learning_rate=0.1 num_leaves=31"), "{params}");
    assert!(params.contains(" seed=7 ") && params.ends_with(" categorical_feature=3,4"), "{params}");
}

#[test]
fn unknown_keys_and_kinds_are_errors() {
    for (text, needle) in [
        ("[[models]]\nkind = \"gbdt\"\nbudgett = 1.0\n", "budgett"),
        ("[[models]]\nkind = \"xgboost\"\n", "xgboost"),
        ("[[models]]\nname = \"m\"\n", "kind"),
        ("[[models]]\nkind = \"prior\"\nseed = 1\n", "seed"),
        ("[[models]]\nkind = \"rules\"\ndefault = { score = 0.1, weight = 2 }\n", "weight"),
        (
            "[[models]]\nkind = \"rules\"\ndefault = { score = 0.1 }\n[[models.rules]]\nwhen = [{ column = \"age\", op = \">\", value = 1, unit = \"y\" }]\nscore = 0.5\n",
            "unit",
        ),
        (
            "[[models]]\nkind = \"rules\"\ndefault = { score = 0.1 }\n[[models.rules]]\nwhen = [{ column = \"age\", op = \"=>\", value = 1 }]\nscore = 0.5\n",
            "=>",
        ),
        ("[[models]]\nkind = \"mlp\"\nnorm = \"group\"\n", "group"),
    ] {
        let error = toml::from_str::<ModelsSection>(text).expect_err(text);
        assert!(error.to_string().contains(needle), "{text}\n{error}");
    }
    // The same through the file-level parser, which names the file.
    let error = ModelsSection::from_toml(Path::new("cfg.toml"), "[[models]]\nkind = \"gbdt\"\nbudgett = 1\n")
        .expect_err("unknown key");
    assert!(matches!(&error, Error::ConfigParse { path, .. } if path == Path::new("cfg.toml")), "{error:?}");
}

#[test]
fn other_top_level_tables_are_left_to_their_owners() {
    let text = "[project]\nname = \"x\"\n\n[[models]]\nkind = \"prior\"\n";
    let section = ModelsSection::from_toml(Path::new("cfg.toml"), text).expect("parses");
    assert_eq!(section.models.len(), 1);
    assert!(ModelsSection::from_toml(Path::new("cfg.toml"), "[project]\n").expect("no models").models.is_empty());
}

#[test]
fn names_must_be_unique_and_plain() {
    let error =
        check("[[models]]\nkind = \"gbdt\"\n\n[[models]]\nkind = \"prior\"\nname = \"gbdt\"\n").expect_err("duplicate");
    assert!(
        matches!(&error, Error::DuplicateName { key, name, first } if key == "models[1].name" && name == "gbdt" && first == "models[0].name"),
        "{error:?}"
    );
    assert!(error.to_string().contains("hint:"));
    let (key, message) = invalid("[[models]]\nkind = \"prior\"\nname = \"my model\"\n");
    assert_eq!(key, "models[0].name");
    assert!(message.contains("hint:"), "{message}");
}

#[test]
fn rules_name_the_key_path_of_a_bad_column() {
    let text = r#"
[[models]]
kind = "prior"

[[models]]
kind = "gbdt"

[[models]]
kind = "rules"
default = { score = 0.1 }

[[models.rules]]
when = [{ column = "age", op = ">", value = 30 }, { column = "agee", op = "<", value = 60 }]
score = 0.5
"#;
    let error = check(text).expect_err("unknown column");
    assert!(
        matches!(&error, Error::UnknownColumn { key, column, .. } if key == "models[2].rules[0].when[1].column" && column == "agee"),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("hint: the feature columns are: age, income, workclass, active"), "{message}");

    // Attributes and the target are not features.
    let rule = |condition: &str| {
        format!(
            "[[models]]\nkind = \"rules\"\ndefault = {{ score = 0.1 }}\n[[models.rules]]\nwhen = [{condition}]\nscore = 0.5\n"
        )
    };
    let error = check(&rule(r#"{ column = "store", op = "==", value = "s1" }"#)).expect_err("attribute");
    assert!(matches!(error, Error::UnknownColumn { .. }), "{error:?}");
    let (key, message) = invalid(&rule(r#"{ column = "y", op = "==", value = "yes" }"#));
    assert_eq!(key, "models[0].rules[0].when[0].column");
    assert!(message.contains("names the target"), "{message}");
}

#[test]
fn rule_operators_and_values_must_fit_the_column_type() {
    let rule = |condition: &str| {
        format!(
            "[[models]]\nkind = \"rules\"\ndefault = {{ score = 0.1 }}\n[[models.rules]]\nwhen = [{condition}]\nscore = 0.5\n"
        )
    };
    for (condition, key, needle) in [
        (r#"{ column = "workclass", op = "<", value = "P" }"#, "models[0].rules[0].when[0].op", "categorical"),
        (r#"{ column = "age", op = "in", value = [30, 40] }"#, "models[0].rules[0].when[0].op", "numeric"),
        (r#"{ column = "age", op = ">", value = "forty" }"#, "models[0].rules[0].when[0].value", "text \"forty\""),
        (r#"{ column = "age", op = ">" }"#, "models[0].rules[0].when[0].value", "required"),
        (r#"{ column = "workclass", op = "==", value = 3 }"#, "models[0].rules[0].when[0].value", "number 3"),
        (r#"{ column = "workclass", op = "in", value = "Private" }"#, "models[0].rules[0].when[0].value", "list"),
        (r#"{ column = "workclass", op = "in", value = [] }"#, "models[0].rules[0].when[0].value", "empty"),
        (
            r#"{ column = "workclass", op = "not_in", value = ["a", 1] }"#,
            "models[0].rules[0].when[0].value[1]",
            "number 1",
        ),
        (r#"{ column = "age", op = "missing", value = 3 }"#, "models[0].rules[0].when[0].value", "no value"),
    ] {
        let (found, message) = invalid(&rule(condition));
        assert_eq!(found, key, "{condition}");
        assert!(message.contains(needle) && message.contains("\nhint: "), "{condition}: {message}");
    }
    // A bool categorical column takes booleans; `missing = false` means present.
    let plan = check(&rule(
        r#"{ column = "active", op = "==", value = true }, { column = "age", op = "missing", value = false }"#,
    ))
    .expect("valid");
    let ModelSpec::Rules(rules) = &plan.models[0].spec else { panic!("rules") };
    assert_eq!(rules.rules[0].when[0].test, Test::CategoryEq("true".into()));
    assert_eq!(rules.rules[0].when[1].test, Test::Missing { missing: false, numeric: true });
}

#[test]
fn rule_scores_must_fit_the_task() {
    let (key, message) = invalid(
        "[[models]]\nkind = \"rules\"\ndefault = { score = 0.1 }\n[[models.rules]]\nwhen = [{ column = \"age\", op = \">\", value = 1 }]\nscore = 1.5\n",
    );
    assert_eq!(key, "models[0].rules[0].score");
    assert!(message.contains("not a probability"), "{message}");
    let (key, _) = invalid("[[models]]\nkind = \"rules\"\ndefault = { score = -0.5 }\n");
    assert_eq!(key, "models[0].default.score");
    let (key, _) =
        invalid("[[models]]\nkind = \"rules\"\ndefault = { score = 0.5 }\n[[models.rules]]\nwhen = []\nscore = 0.5\n");
    assert_eq!(key, "models[0].rules[0].when");

    // Regression scores are values; multiclass has no rules baseline.
    let mut regression = binary_schema();
    regression.task = Task::Regression;
    regression.classes.clear();
    let text = "[[models]]\nkind = \"rules\"\ndefault = { score = 1250.0 }\n";
    assert!(parse(text).validate(&regression).is_ok());
    let mut multiclass = binary_schema();
    multiclass.task = Task::Multiclass;
    multiclass.classes = vec!["a".into(), "b".into(), "c".into()];
    let error = parse(text).validate(&multiclass).expect_err("multiclass");
    assert!(matches!(&error, Error::InvalidValue { key, .. } if key == "models[0].kind"), "{error:?}");
}

#[test]
fn hyperparameters_out_of_range_name_their_key() {
    for (text, key) in [
        ("kind = \"gbdt\"\nnum_iterations = 0", "models[0].num_iterations"),
        ("kind = \"gbdt\"\nlearning_rate = 1.5", "models[0].learning_rate"),
        ("kind = \"gbdt\"\nnum_leaves = 1", "models[0].num_leaves"),
        ("kind = \"gbdt\"\nbagging_fraction = 0.0", "models[0].bagging_fraction"),
        ("kind = \"gbdt\"\nearly_stopping_rounds = 0", "models[0].early_stopping_rounds"),
        ("kind = \"gbdt\"\nmax_bin = 1", "models[0].max_bin"),
        ("kind = \"linear\"\nl2 = -1.0", "models[0].l2"),
        ("kind = \"linear\"\nlr = 0.0", "models[0].lr"),
        ("kind = \"linear\"\nepochs = 0", "models[0].epochs"),
        ("kind = \"mlp\"\nhidden = []", "models[0].hidden"),
        ("kind = \"mlp\"\nhidden = [64, 0]", "models[0].hidden[1]"),
        ("kind = \"mlp\"\nhidden = [64, 32]\nresidual = true", "models[0].residual"),
        ("kind = \"mlp\"\ndropout = 1.0", "models[0].dropout"),
        ("kind = \"mlp\"\nepochs = 5\nwarmup_epochs = 5", "models[0].warmup_epochs"),
        ("kind = \"mlp\"\npatience = 0", "models[0].patience"),
        ("kind = \"mlp\"\nweight_decay = -1e-5", "models[0].weight_decay"),
        ("kind = \"resnet\"\nd_hidden_factor = 0.0", "models[0].d_hidden_factor"),
        ("kind = \"resnet\"\nn_blocks = 0", "models[0].n_blocks"),
        ("kind = \"resnet\"\nbatch_size = 0", "models[0].batch_size"),
        ("kind = \"resnet\"\nembedding_dim = 0", "models[0].embedding_dim"),
        ("kind = \"mlp\"\nnorm = \"batch\"\nbatch_size = 1", "models[0].batch_size"),
    ] {
        let (found, message) = invalid(&format!("[[models]]\n{text}\n"));
        assert_eq!(found, key, "{text}");
        assert!(message.starts_with(&format!("`{key}` ")) && message.contains("\nhint: "), "{message}");
    }
}
