package demo

// The vocabulary the generator draws names from: industries, places,
// trade names and real universities of Tianjin, Beijing and Hebei.

// FutureIndustries are the ids of Tianjin's eight future industries, in the
// order of the reference report.
var FutureIndustries = []string{
	"biomanufacturing",
	"cell-gene-therapy",
	"brain-science-intelligent-medicine",
	"information-innovation",
	"deep-sea",
	"aerospace",
	"advanced-energy",
	"new-materials",
}

// Regions are the entity regions used by the data set.
var Regions = []string{"Binhai", "Tianjin", "Beijing", "Hebei"}

// industry describes one industry slug: how organisations in it are named
// and how common it is as a primary industry of an enterprise.
type industry struct {
	id     string
	label  string   // "Aerospace", used for groups, institutes, incubators
	nouns  []string // business lines used in enterprise names
	weight float64  // relative share of enterprises
}

var industries = []industry{
	{"biomanufacturing", "Biomanufacturing", []string{"Synthetic Biology", "Bio-based Materials", "Enzyme Engineering", "Fermentation Technology", "Biomanufacturing"}, 4},
	{"cell-gene-therapy", "Cell and Gene Therapy", []string{"Cell Therapy", "Gene Technology", "Stem Cell Technology", "Biotherapeutics", "Gene Medicine"}, 3},
	{"brain-science-intelligent-medicine", "Brain Science and Intelligent Medicine", []string{"Brain-Computer Interface", "Neurotechnology", "Medical AI", "Intelligent Medical Devices", "Rehabilitation Robotics"}, 3},
	{"information-innovation", "Information Technology Innovation", []string{"Information Technology", "Software", "Operating Systems", "Secure Computing", "Database Technology"}, 9},
	{"deep-sea", "Deep-Sea Technology", []string{"Marine Engineering", "Deep-Sea Equipment", "Subsea Technology", "Offshore Engineering", "Underwater Robotics"}, 3},
	{"aerospace", "Aerospace", []string{"Aerospace Composites", "Aviation Equipment", "Satellite Applications", "Aerospace Technology", "Aircraft Maintenance"}, 6},
	{"advanced-energy", "Advanced Energy", []string{"New Energy", "Energy Storage", "Photovoltaic Technology", "Power Battery", "Smart Grid"}, 6},
	{"new-materials", "New Materials", []string{"New Materials", "Advanced Ceramics", "Carbon Fiber", "Graphene Technology", "Special Alloys"}, 6},
	{"biomedicine", "Biomedicine", []string{"Biopharmaceutical", "Pharmaceutical", "Medical Devices", "Biotechnology", "Diagnostics"}, 8},
	{"high-end-equipment", "High-End Equipment", []string{"Intelligent Equipment", "Precision Machinery", "Robotics", "Industrial Automation", "Heavy Equipment"}, 8},
	{"digital-economy", "Digital Economy", []string{"Digital Technology", "Cloud Computing", "Big Data", "Internet Technology", "Smart City"}, 8},
	{"financial-leasing", "Financial Leasing", []string{"Financial Leasing", "Aircraft Leasing", "Ship Leasing", "Equipment Leasing", "Finance Lease"}, 5},
	{"integrated-circuits", "Integrated Circuits", []string{"Semiconductor", "Microelectronics", "Integrated Circuit", "Chip Design"}, 4},
	{"artificial-intelligence", "Artificial Intelligence", []string{"Artificial Intelligence", "Machine Vision", "Intelligent Technology", "Speech Technology"}, 5},
	{"intelligent-connected-vehicles", "Intelligent Connected Vehicles", []string{"Automotive Electronics", "Intelligent Vehicle", "Auto Parts", "Autonomous Driving"}, 4},
	{"green-petrochemical", "Green Petrochemicals", []string{"Petrochemical", "Fine Chemicals", "Chemical Engineering", "Green Chemicals"}, 4},
	{"hydrogen-energy", "Hydrogen Energy", []string{"Hydrogen Energy", "Fuel Cell", "Hydrogen Equipment"}, 2},
	{"port-logistics", "Port and Logistics", []string{"International Logistics", "Shipping", "Supply Chain", "Port Services"}, 4},
	{"cybersecurity", "Cybersecurity", []string{"Cybersecurity", "Information Security", "Network Security"}, 3},
	{"marine-economy", "Marine Economy", []string{"Marine Technology", "Seawater Desalination", "Marine Biotechnology"}, 2},
}

// consortiumFields are the fields of the four industry-education
// integration consortia.
var consortiumFields = []string{"information-innovation", "biomedicine", "high-end-equipment", "digital-economy"}

// allianceFields are the fields of the 19 industry talent alliances.
var allianceFields = []string{
	"aerospace", "financial-leasing", "biomanufacturing", "cell-gene-therapy",
	"brain-science-intelligent-medicine", "information-innovation", "deep-sea",
	"advanced-energy", "new-materials", "integrated-circuits",
	"artificial-intelligence", "intelligent-connected-vehicles", "biomedicine",
	"green-petrochemical", "hydrogen-energy", "port-logistics",
	"high-end-equipment", "cybersecurity", "marine-economy",
}

// place is a region with the prefixes organisation names use there and the
// administrative division codes (GB/T 2260) of its districts. A prefix
// naming a city has that city's division; the others draw from divisions.
type place struct {
	region    string
	share     float64 // share of enterprises
	prefixes  []string
	short     string // used in "Trade Noun (Short) Co., Ltd."
	divisions []string
	cities    map[string]string // prefix → division
}

var places = []place{
	{"Binhai", 72, []string{"Tianjin", "Tianjin Binhai", "Binhai", "Tianjin Lingang", "Tianjin Dongjiang", "TEDA"}, "Tianjin", []string{"120116"}, nil},
	{"Tianjin", 14, []string{"Tianjin"}, "Tianjin", []string{"120101", "120102", "120103", "120104", "120106", "120110", "120111", "120112", "120113", "120114"}, nil},
	{"Beijing", 8, []string{"Beijing", "Beijing Zhongguancun", "Beijing Yizhuang"}, "Beijing", []string{"110105", "110108", "110114", "110115"},
		map[string]string{"Beijing Zhongguancun": "110108", "Beijing Yizhuang": "110115"}},
	{"Hebei", 6, []string{"Hebei", "Langfang", "Baoding", "Tangshan", "Cangzhou", "Shijiazhuang"}, "Hebei", []string{"130102", "130203", "130602", "131003", "130903"},
		map[string]string{"Shijiazhuang": "130102", "Tangshan": "130203", "Baoding": "130602", "Langfang": "131003", "Cangzhou": "130903"}},
}

// division returns the division code for an organisation named with
// prefix in p.
func (p place) division(r *rng, prefix string) string {
	if d, ok := p.cities[prefix]; ok {
		return d
	}
	return pick(r, p.divisions)
}

// tradeNames are pinyin shop names ("字号") of enterprises.
var tradeNames = []string{
	"Haixin", "Jinbo", "Ruida", "Zhongke", "Huaxin", "Tianhong", "Bohai", "Hengtai",
	"Xinyuan", "Kaida", "Yuanhang", "Jiahe", "Lianchuang", "Zhiyuan", "Shengda", "Tongda",
	"Hongxing", "Minghui", "Runze", "Anke", "Qihang", "Xinghe", "Haiguang", "Huayu",
	"Jingwei", "Dingsheng", "Kunlun", "Yunfan", "Chenguang", "Taihe", "Weilai", "Zhonghuan",
	"Hongda", "Jinhai", "Tianyuan", "Haitai", "Lingyun", "Ruixin", "Fengyuan", "Huarui",
	"Xinda", "Yida", "Kexin", "Shuntian", "Longteng", "Jiyuan", "Changhe", "Boyuan",
	"Guanghua", "Huitong", "Lixin", "Mingde", "Ningxin", "Pengcheng", "Qianyuan", "Rongsheng",
	"Shengshi", "Tianrui", "Wanbang", "Yaxin", "Zhongtian", "Aoxiang", "Beichen", "Chuangyi",
	"Deli", "Fuxing", "Gaoke", "Hengyuan", "Jiaxin", "Kangtai", "Lanhai", "Meida",
	"Nuowei", "Puhua", "Qiming", "Ruitai", "Saiwei", "Tongxin", "Weixing", "Xingyuan",
	"Yuhua", "Zhuoyue", "Haiyun", "Jinqiao", "Bingang", "Yinhe", "Jiuzhou", "Shenghai",
}

// university is one of the real universities in the data set.
type university struct {
	name       string
	region     string
	division   string
	industries []string
}

var universities = []university{
	{"Tianjin University", "Tianjin", "120104", []string{"information-innovation", "high-end-equipment", "green-petrochemical", "new-materials"}},
	{"Nankai University", "Tianjin", "120104", []string{"biomedicine", "digital-economy", "new-materials", "advanced-energy"}},
	{"Tianjin University of Science and Technology", "Binhai", "120116", []string{"biomanufacturing", "biomedicine", "marine-economy"}},
	{"Civil Aviation University of China", "Tianjin", "120110", []string{"aerospace", "high-end-equipment", "information-innovation"}},
	{"Tianjin University of Technology", "Tianjin", "120111", []string{"information-innovation", "digital-economy", "new-materials"}},
	{"Tiangong University", "Tianjin", "120111", []string{"new-materials", "high-end-equipment", "artificial-intelligence"}},
	{"Tianjin Medical University", "Tianjin", "120101", []string{"biomedicine", "cell-gene-therapy", "brain-science-intelligent-medicine"}},
	{"Tianjin University of Traditional Chinese Medicine", "Tianjin", "120112", []string{"biomedicine", "biomanufacturing"}},
	{"Tianjin Normal University", "Tianjin", "120111", []string{"digital-economy", "artificial-intelligence"}},
	{"Tianjin University of Finance and Economics", "Tianjin", "120103", []string{"financial-leasing", "digital-economy"}},
	{"Tianjin Chengjian University", "Tianjin", "120111", []string{"high-end-equipment", "digital-economy"}},
	{"Tianjin University of Technology and Education", "Tianjin", "120112", []string{"high-end-equipment", "intelligent-connected-vehicles"}},
	{"Tianjin Sino-German University of Applied Sciences", "Tianjin", "120112", []string{"high-end-equipment", "intelligent-connected-vehicles", "digital-economy"}},
	{"Tianjin Vocational Institute", "Tianjin", "120113", []string{"information-innovation", "digital-economy"}},
	{"Tianjin Maritime College", "Binhai", "120116", []string{"port-logistics", "deep-sea", "marine-economy"}},
	{"Hebei University of Technology", "Hebei", "131003", []string{"high-end-equipment", "new-materials", "advanced-energy", "artificial-intelligence"}},
	{"Hebei University", "Hebei", "130602", []string{"biomedicine", "digital-economy"}},
	{"Yanshan University", "Hebei", "130302", []string{"high-end-equipment", "new-materials"}},
	{"Hebei University of Science and Technology", "Hebei", "130102", []string{"biomedicine", "green-petrochemical"}},
	{"North China Electric Power University", "Beijing", "110114", []string{"advanced-energy", "hydrogen-energy"}},
	{"Beihang University", "Beijing", "110108", []string{"aerospace", "information-innovation", "artificial-intelligence"}},
	{"Beijing Institute of Technology", "Beijing", "110108", []string{"aerospace", "intelligent-connected-vehicles", "new-materials"}},
	{"Tsinghua University", "Beijing", "110108", []string{"integrated-circuits", "artificial-intelligence", "advanced-energy", "brain-science-intelligent-medicine"}},
	{"Peking University", "Beijing", "110108", []string{"biomedicine", "cell-gene-therapy", "brain-science-intelligent-medicine"}},
	{"University of Science and Technology Beijing", "Beijing", "110108", []string{"new-materials", "high-end-equipment"}},
	{"Beijing University of Posts and Telecommunications", "Beijing", "110108", []string{"information-innovation", "cybersecurity", "digital-economy"}},
}

// instituteForms and incubatorForms name research institutes and
// incubators; %[1]s is a place prefix, %[2]s an industry label, %[3]s a
// trade name.
var (
	instituteForms = []string{
		"%[1]s Institute of %[2]s",
		"%[1]s %[2]s Research Institute",
		"%[1]s %[2]s Innovation Research Institute",
		"%[1]s %[3]s %[2]s Research Institute",
		"%[1]s Industrial Technology Research Institute of %[2]s",
	}
	incubatorForms = []string{
		"%[1]s %[2]s Incubator",
		"%[1]s %[2]s Innovation Center",
		"%[3]s %[2]s Accelerator",
		"%[1]s %[3]s Science Park Incubator",
		"%[1]s %[2]s Maker Space",
	}
)
