//! The dataset schema: every column's name, declared type and role, and the learning task.
//!
//! A `Schema` is what a model needs to know about its inputs. It is built from a config by
//! kiln-data, stored in every bundle, and used by serving to check requests, so it holds no
//! file paths and nothing that depends on polars.

use serde::{Deserialize, Serialize};

use crate::hash::content_hash;

/// The learning task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Binary,
    Multiclass,
    Regression,
}

impl Task {
    pub fn is_classification(self) -> bool {
        !matches!(self, Task::Regression)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Task::Binary => "binary",
            Task::Multiclass => "multiclass",
            Task::Regression => "regression",
        }
    }
}

/// A column's declared storage type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// 64-bit signed integer.
    Int,
    /// 64-bit float.
    Float,
    /// UTF-8 text.
    String,
    /// true / false.
    Bool,
}

impl DType {
    pub fn is_numeric(self) -> bool {
        matches!(self, DType::Int | DType::Float)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DType::Int => "int",
            DType::Float => "float",
            DType::String => "string",
            DType::Bool => "bool",
        }
    }
}

/// What a column is for. Exactly one role per column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The label to predict.
    Target,
    /// A numeric feature.
    Numeric,
    /// A categorical feature.
    Categorical,
    /// A row identifier: never a feature, usable as a split key.
    Id,
    /// Kept for slicing or fairness only (a segment or protected column that is not a feature).
    Attribute,
    /// Read and checked, then dropped.
    Drop,
}

impl Role {
    pub fn is_feature(self) -> bool {
        matches!(self, Role::Numeric | Role::Categorical)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Target => "target",
            Role::Numeric => "numeric",
            Role::Categorical => "categorical",
            Role::Id => "id",
            Role::Attribute => "attribute",
            Role::Drop => "drop",
        }
    }
}

/// One column of the schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub dtype: DType,
    pub role: Role,
    /// Used to slice evaluation.
    #[serde(default)]
    pub segment: bool,
    /// A protected attribute for fairness checks.
    #[serde(default)]
    pub protected: bool,
    /// Personal data: masked in reports.
    #[serde(default)]
    pub pii: bool,
}

impl Column {
    /// A short description of the column's role and flags, e.g. `categorical, segment, protected`.
    pub fn role_label(&self) -> String {
        let mut parts = vec![self.role.as_str()];
        if self.segment {
            parts.push("segment");
        }
        if self.protected {
            parts.push("protected");
        }
        if self.pii {
            parts.push("pii");
        }
        parts.join(", ")
    }
}

/// The full schema: columns in file order, the task and the target's classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    pub task: Task,
    pub columns: Vec<Column>,
    /// Name of the target column.
    pub target: String,
    /// Class labels in a fixed order (classification only). For a binary task the positive
    /// class is last, so that class index 1 means positive.
    #[serde(default)]
    pub classes: Vec<String>,
}

impl Schema {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Feature columns in schema order.
    pub fn features(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.role.is_feature())
    }

    /// Columns kept after loading (everything but `drop`).
    pub fn kept(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.role != Role::Drop)
    }

    pub fn segments(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.segment)
    }

    pub fn protected(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.protected)
    }

    /// The positive class of a binary task.
    pub fn positive_class(&self) -> Option<&str> {
        match self.task {
            Task::Binary => self.classes.last().map(String::as_str),
            _ => None,
        }
    }

    /// Index of a class label, if it is one.
    pub fn class_index(&self, label: &str) -> Option<usize> {
        self.classes.iter().position(|c| c == label)
    }

    /// Content hash of the schema (names, types, roles, flags, task, classes).
    pub fn hash(&self) -> String {
        let canonical = serde_json::to_vec(self).expect("a schema always serializes to JSON");
        content_hash(&[b"kiln.schema.v1", &canonical])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        Schema {
            task: Task::Binary,
            columns: vec![
                Column {
                    name: "age".into(),
                    dtype: DType::Int,
                    role: Role::Numeric,
                    segment: false,
                    protected: false,
                    pii: false,
                },
                Column {
                    name: "sex".into(),
                    dtype: DType::String,
                    role: Role::Attribute,
                    segment: true,
                    protected: true,
                    pii: false,
                },
                Column {
                    name: "y".into(),
                    dtype: DType::String,
                    role: Role::Target,
                    segment: false,
                    protected: false,
                    pii: false,
                },
            ],
            target: "y".into(),
            classes: vec!["no".into(), "yes".into()],
        }
    }

    #[test]
    fn lookups_and_positive_class() {
        let s = schema();
        assert_eq!(s.features().count(), 1);
        assert_eq!(s.segments().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["sex"]);
        assert_eq!(s.positive_class(), Some("yes"));
        assert_eq!(s.class_index("no"), Some(0));
        assert_eq!(s.column("sex").map(Column::role_label).as_deref(), Some("attribute, segment, protected"));
    }

    #[test]
    fn hash_is_stable_and_sensitive() {
        let a = schema();
        assert_eq!(a.hash(), schema().hash());
        let mut b = schema();
        b.columns[0].dtype = DType::Float;
        assert_ne!(a.hash(), b.hash());
        assert_eq!(a.hash().len(), 64);
    }
}
