# Two commands: `make report` and `make test`. Both set up .venv first when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: report report-survey test lint clean compile

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[all]"
	@touch $(STAMP)

# An editable install leaves the package's own modules uncompiled, and where PYTHONDONTWRITEBYTECODE
# is set (CI machines) every process of a run would compile them again (about 0.3 s each); pip
# compiles an installed wheel's modules itself. Files already compiled are skipped.
compile: $(STAMP)
	@$(BIN)/python -m compileall -q cxanalysis >/dev/null

report: $(STAMP) compile
	$(BIN)/cxanalysis report data/sample/ --out reports/

# the two-file route: a CRM table and a Qualtrics-style survey export, joined by the report
report-survey: $(STAMP)
	$(BIN)/cxanalysis sample --survey-format qualtrics --customers 5000 --quarters 4 --out reports/_two-files
	$(BIN)/cxanalysis report reports/_two-files/crm.csv --survey reports/_two-files/responses.csv --out reports/two-files/

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check cxanalysis tests benchmarks

clean:
	rm -rf reports/ .pytest_cache
